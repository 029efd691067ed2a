import secrets

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.roles import ADMIN


class Command(BaseCommand):
    help = (
        "First start of `make run`: create the admin account (printing its password once) "
        "and seed the demo data when the database has no users yet. Does nothing afterwards."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the site is served (printed)."
        )

    def handle(self, *args, **options) -> None:
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        admin = User.objects.create_superuser("admin", "admin@example.com", password)
        admin.groups.add(Group.objects.get(name=ADMIN))
        call_command("seed_user_data", stdout=self.stdout, stderr=self.stderr)
        banner = "=" * 60
        self.stdout.write(
            f"{banner}\n mleval admin login (shown once, stored only hashed):\n"
            f"   user: admin   password: {password}\n   {options['url']}\n{banner}"
        )
