"""The roles, as auth groups. One definition, applied by a migration and after every migrate.

viewer reads everything; curator edits cases; engineer manages runs, responses, evaluations and
grading tasks; grader reads everything and grades the answers assigned to them; admin does all.
A user's role is the group they are in (superusers pass every check anyway).
"""

from collections.abc import Iterable

PROJECT_APPS = ("accounts", "jobs", "cases", "runs", "evaluations", "versions", "grading")
# What every role may read; accounts (tokens, the audit trail) is for admins only.
DATA_APPS = ("jobs", "cases", "runs", "evaluations", "versions", "grading")
VIEWER, CURATOR, ENGINEER, ADMIN = "viewer", "curator", "engineer", "admin"
GRADER = "grader"
ROLE_NAMES = (VIEWER, CURATOR, ENGINEER, ADMIN, GRADER)

# Models each role may add, change and delete, on top of viewing everything.
EDITABLE_MODELS = {
    VIEWER: (),
    CURATOR: (("cases", "testcase"), ("versions", "version")),
    ENGINEER: (
        ("runs", "modelrun"),
        ("runs", "response"),
        ("runs", "connection"),
        ("runs", "modelversion"),
        ("evaluations", "evaluation"),
        ("grading", "gradingtask"),
        ("grading", "gradingitem"),
        ("grading", "assignment"),
    ),
    GRADER: (),
}
# Single permissions on top (app_label, codename): who may grade the answers assigned to them.
EXTRA_PERMISSIONS = {
    VIEWER: (),
    CURATOR: (("grading", "grade"),),
    ENGINEER: (("grading", "grade"),),
    GRADER: (("grading", "grade"),),
}


def _codenames(models: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {
        (app_label, f"{action}_{model}")
        for app_label, model in models
        for action in ("add", "change", "delete")
    }


def sync_roles(apps) -> None:
    """Create the groups and give them their permissions (idempotent; takes historical apps)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    project_permissions = Permission.objects.filter(content_type__app_label__in=PROJECT_APPS)
    view_permissions = list(
        project_permissions.filter(
            codename__startswith="view_", content_type__app_label__in=DATA_APPS
        )
    )
    for role in ROLE_NAMES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == ADMIN:
            group.permissions.set(Permission.objects.all())
            continue
        wanted = _codenames(EDITABLE_MODELS[role]) | set(EXTRA_PERMISSIONS[role])
        editable = [
            permission
            for permission in project_permissions.select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        group.permissions.set([*view_permissions, *editable])
