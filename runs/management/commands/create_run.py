"""`manage.py create_run`: register a run, as the /runs/new/ page does."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.selection import SelectionError, add_selection_arguments, selection_from_options
from mleval_site import jsonsafe
from runs.selection import register_run
from versions.models import Version

FLAGS = {
    "model_name": "--model-name",
    "model_version": "--model-version",
    "model_type": "--model-type",
    "model_endpoint": "--endpoint",
    "config": "--config",
}


class Command(BaseCommand):
    help = (
        "Register a model run over a selection of test cases: by default the golden set (human, "
        "verified) of its model type; the case list's filters narrow or widen it. Prints the "
        "new run's id alone on the last line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model-name", required=True)
        parser.add_argument("--model-version", required=True)
        parser.add_argument(
            "--model-type",
            required=True,
            help="the run's domain (nlp, computer_vision, ...); it also selects the cases",
        )
        parser.add_argument(
            "--endpoint",
            default="",
            help="http(s)://... URL, or python:package.module:function for an in-process model",
        )
        parser.add_argument(
            "--config", default="{}", help="model parameters as a JSON object, e.g. '{\"k\": 5}'"
        )
        parser.add_argument("--user", metavar="USERNAME", help="record this user as created_by")
        parser.add_argument(
            "--golden-version",
            metavar="NAME",
            help="run on this frozen version's cases and contents (instead of the filters)",
        )
        add_selection_arguments(parser, model_type=False)

    def handle(self, *args, **options) -> None:
        try:
            config = jsonsafe.checked_loads(options["config"])
        except ValueError as error:
            raise CommandError(f"--config is not valid JSON: {error}") from None
        if not isinstance(config, dict):
            raise CommandError("--config must be a JSON object, e.g. '{\"temperature\": 0}'.")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}.")
        version = None
        if options["golden_version"]:
            name = options["golden_version"]
            version = Version.objects.filter(name=name).first()
            if version is None:
                raise CommandError(f"--golden-version: no version named {name!r}.")
        try:
            run = register_run(
                model_name=options["model_name"],
                model_version=options["model_version"],
                model_type=options["model_type"],
                model_endpoint=options["endpoint"],
                config=config,
                selection=selection_from_options(options),
                version=version,
                created_by=user,
            )
        except SelectionError as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError(
                "; ".join(
                    f"{FLAGS.get(field, field)}: {' '.join(messages)}"
                    for field, messages in error.message_dict.items()
                )
            ) from None
        self.stdout.write(str(run.pk))
