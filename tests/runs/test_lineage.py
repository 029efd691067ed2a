"""Model lineage: parents recorded, cycles refused by the model method and by the database."""

import threading

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from runs.lineage import LineageKind, ModelVersion, lineage_tree

FT, DISTILLED = LineageKind.FINE_TUNED, LineageKind.DISTILLED


@pytest.fixture
def chain(db) -> tuple[ModelVersion, ModelVersion, ModelVersion]:
    """llama 3 ← bert 1 (fine-tuned) ← bert 2 (distilled)."""
    one = ModelVersion.record("bert", "1", ("llama", "3"), FT)
    two = ModelVersion.record("bert", "2", ("bert", "1"), DISTILLED)
    return one.parent, one, two


def test_record_creates_the_rows_and_sets_the_parent(chain):
    base, one, two = chain
    assert (base.model_name, base.model_version, base.parent_id) == ("llama", "3", None)
    assert one.parent == base and one.parent_kind == FT
    assert two.parent == one and two.ancestor_ids() == [one.pk, base.pk]
    # Clearing the parent clears the kind.
    cleared = ModelVersion.record("bert", "2", None, DISTILLED)
    assert cleared.pk == two.pk and cleared.parent_id is None and cleared.parent_kind == ""


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (("llama", "3"), ("bert", "2")),
        (("llama", "3"), ("bert", "1")),
        (("bert", "1"), ("bert", "1")),
    ],
)
def test_a_cycle_is_refused_on_the_parent_field(chain, child, parent):
    with pytest.raises(ValidationError) as refused:
        ModelVersion.record(*child, parent, FT)
    assert "cycle" in " ".join(refused.value.message_dict["parent"])
    row = ModelVersion.objects.get(model_name=child[0], model_version=child[1])
    assert (
        row.parent_id != ModelVersion.objects.get(model_name=parent[0], model_version=parent[1]).pk
    )


def test_the_database_refuses_a_cycle_that_skips_the_method(chain):
    base, _, two = chain
    with pytest.raises(IntegrityError, match="model_versions_no_cycle"), transaction.atomic():
        ModelVersion.objects.filter(pk=base.pk).update(parent=two, parent_kind=FT)
    with pytest.raises(IntegrityError, match="model_versions_no_cycle"), transaction.atomic():
        ModelVersion.objects.filter(pk=base.pk).update(parent=base, parent_kind=FT)
    # A kind goes with a parent (a check constraint).
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=base.pk).update(parent_kind=FT)


def test_a_missing_kind_is_a_field_error(db):
    with pytest.raises(ValidationError) as refused:
        ModelVersion.record("bert", "1", ("llama", "3"), "")
    assert "parent_kind" in refused.value.message_dict
    assert not ModelVersion.objects.exists()  # nothing half-written


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writes_cannot_close_a_loop():
    """A from B and B from A, each valid alone, in two transactions at once: the trigger's
    lock makes the second see the first and refuse."""
    a = ModelVersion.objects.create(model_name="a", model_version="1")
    b = ModelVersion.objects.create(model_name="b", model_version="1")
    settings = connection.settings_dict
    dsn = psycopg.conninfo.make_conninfo(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"],
        port=settings["PORT"] or 5432, password=settings["PASSWORD"] or None,
    )  # fmt: skip
    sql = "UPDATE model_versions SET parent_id = %s, parent_kind = 'derived' WHERE id = %s"
    first = psycopg.connect(dsn)
    first.execute(sql, [b.pk, a.pk])  # A from B, not committed yet
    outcome = {}

    def second_write():
        with psycopg.connect(dsn) as second:
            try:
                second.execute(sql, [a.pk, b.pk])  # B from A: waits for the first's lock
                second.commit()
                outcome["error"] = None
            except psycopg.errors.CheckViolation as error:
                outcome["error"] = error

    thread = threading.Thread(target=second_write)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the second write should wait for the first's lock"
    first.commit()
    first.close()
    thread.join(10)
    assert outcome["error"] is not None and "model_versions_no_cycle" in str(outcome["error"])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.parent_id, b.parent_id) == (b.pk, None)


def test_family_and_tree(chain, django_assert_max_num_queries):
    base, one, two = chain
    ModelVersion.record("tiny", "0.1", ("bert", "2"), DISTILLED)
    ModelVersion.record("bert", "1-q4", ("bert", "1"), LineageKind.QUANTIZED)
    ModelVersion.record("other", "1", ("unrelated", "1"), FT)
    with django_assert_max_num_queries(1):
        rows = ModelVersion.family("tiny")
    assert {str(row) for row in rows} == {"llama 3", "bert 1", "bert 2", "bert 1-q4", "tiny 0.1"}
    tree = [(str(row["node"]), row["depth"]) for row in lineage_tree(rows)]
    assert tree == [
        ("llama 3", 0),
        ("bert 1", 1),
        ("bert 1-q4", 2),
        ("bert 2", 2),
        ("tiny 0.1", 3),
    ]


def test_a_long_chain_is_drawn(db):
    """A hundred nightly fine-tunes, each from the one before (no recursion limit)."""
    for night in range(1, 300):
        ModelVersion.record("nightly", str(night), ("nightly", str(night - 1)), FT)
    tree = lineage_tree(ModelVersion.family("nightly"))
    assert len(tree) == 200 and tree[-1]["depth"] == 199  # the family's guard: 200 rows


def test_the_admin_form_refuses_a_cycle(chain, login, admin_user):
    base, _, two = chain
    url = reverse("admin:runs_modelversion_change", args=[base.pk])
    form = {"model_name": "llama", "model_version": "3", "parent": two.pk,
            "parent_kind": FT, "note": ""}  # fmt: skip
    page = login(admin_user).post(url, form)
    assert page.status_code == 200 and "lineage has no cycle" in page.content.decode()
    base.refresh_from_db()
    assert base.parent_id is None
