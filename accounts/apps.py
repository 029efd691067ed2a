from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, apps=None, **kwargs) -> None:
    from django.apps import apps as global_apps

    from accounts.roles import sync_roles

    sync_roles(apps or global_apps)  # `flush` sends post_migrate without `apps`


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Permissions of models added later join the roles without a new data migration.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="accounts.sync_roles")
