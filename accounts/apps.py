from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, apps=None, **kwargs) -> None:
    from django.apps import apps as global_apps

    from accounts.roles import sync_roles

    # post_migrate is sent once per app, in INSTALLED_APPS order, each after that app's
    # permissions are created: wait for the last one, when every app's permissions exist (an
    # app after accounts, e.g. grading, would otherwise miss its role's permissions).
    with_models = [c for c in global_apps.get_app_configs() if c.models_module is not None]
    if sender.label != with_models[-1].label:  # the signal skips apps without models
        return
    sync_roles(apps or global_apps)  # `flush` sends post_migrate without `apps`


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Permissions of models added later join the roles without a new data migration.
        post_migrate.connect(_sync_roles, dispatch_uid="accounts.sync_roles")
