"""manage.py freeze_version NAME [--description D] [FILTERS]: last line, the version id."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.selection import SelectionError, add_selection_arguments, selection_from_options
from versions.freezing import freeze


class Command(BaseCommand):
    help = "Freeze the selected cases (default: the golden set) at their current revisions."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the version's name, unique (e.g. 'sentiment-golden v3')")
        parser.add_argument("--description", default="")
        add_selection_arguments(parser)

    def handle(self, *args, **options) -> None:
        selection = selection_from_options(options)
        try:
            version = freeze(
                options["name"], selection=selection, description=options["description"]
            )
        except SelectionError as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Froze {version.case_count} cases as version {version.name!r}.")
        self.stdout.write(str(version.pk))
