"""Keyset pages and counts that stay cheap on a million rows."""

import pytest
from django.db import connection

from cases.selection import select_cases
from mleval_site import pagination
from mleval_site.pagination import BadCursor, capped_count, keyset_page


def count_rows(queryset) -> tuple[int, bool]:
    """The case list's count: the keyset page's (its limit read when called)."""
    page = keyset_page(queryset, per_page=1)
    return page.count, page.count_is_estimate


@pytest.mark.django_db
class TestCount:
    def test_small_selections_are_counted_exactly(self, make_case):
        for _ in range(3):
            make_case()
        assert count_rows(select_cases({})) == (3, False)

    def test_big_selections_use_the_planners_estimate(self, make_case, monkeypatch):
        """Past the limit the count is the planner's (here exact, after a real ANALYZE)."""
        for _ in range(5):
            make_case()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE test_cases")
        monkeypatch.setattr(pagination, "KEYSET_COUNT_LIMIT", 2)
        assert count_rows(select_cases({})) == (5, True)

    def test_the_exact_count_never_scans_past_its_limit(self, make_case):
        for _ in range(4):
            make_case()
        assert capped_count(select_cases({}), limit=2) is None
        assert capped_count(select_cases({}), limit=4) == 4

    def test_an_empty_selection(self):
        assert count_rows(select_cases({}).none()) == (0, False)


@pytest.mark.django_db
class TestKeysetPages:
    @pytest.mark.parametrize("sort", ["category", "-category", "-updated_at", "id", "-id"])
    def test_pages_cover_the_selection_once_in_order(self, make_case, sort):
        for i in range(11):
            make_case(category=f"c{i % 4}")
        queryset = select_cases({"sort": sort})
        expected = list(queryset.values_list("id", flat=True))
        seen, cursor = [], None
        while True:
            page = keyset_page(queryset, per_page=4, after=cursor)
            seen += [case.pk for case in page]
            if page.is_last:
                break
            cursor = page.next_cursor
        assert seen == expected
        back = keyset_page(queryset, per_page=4, before=page.previous_cursor)
        assert [c.pk for c in back] == expected[4:8]

    def test_a_bad_cursor(self, make_case):
        make_case()
        with pytest.raises(BadCursor):
            keyset_page(select_cases({}), per_page=5, after="bm90IGpzb24")
        with pytest.raises(BadCursor):
            keyset_page(select_cases({"sort": "-updated_at"}), per_page=5, after="WzFd")


@pytest.mark.django_db
def test_a_stale_overestimate_near_the_limit_is_still_counted_exactly(make_case, monkeypatch):
    """Three rows whose statistics say 8 (past the limit of 5, within 10x): counted exactly."""
    from mleval_site import pagination as site_pagination

    for _ in range(3):
        make_case()
    with connection.cursor() as cursor:
        # Statistics of these three rows, not of rows an earlier test of this database committed
        # (autovacuum may have analyzed those: all ai-generated, say, and the estimate is 1).
        cursor.execute("ANALYZE test_cases")
        # What a table that shrank since its last ANALYZE looks like to the planner: 8 rows over
        # its pages as they are now (earlier tests' rolled-back rows may fill several, and the
        # planner scales reltuples by the table's current size).
        cursor.execute(
            "UPDATE pg_class SET reltuples = 8, relpages = greatest(1, pg_relation_size(oid)"
            " / current_setting('block_size')::int) WHERE relname = 'test_cases'"
        )
    estimate = site_pagination.estimated_count(select_cases({}))
    assert estimate > 5
    assert site_pagination.count_rows(select_cases({}), limit=5) == (3, False)
