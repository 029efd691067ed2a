"""The case list offers what the database holds: known values per filter field, tag
suggestions as the user types, and a scope notice that follows the scope asked for."""

import pytest
from django.core.cache import cache

from cases import choices
from tests.baker_recipes import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.delete(choices.CACHE_KEY)
    yield
    cache.delete(choices.CACHE_KEY)


def test_known_values_per_field(db):
    make_case(model_type="computer_vision", category="boxes", input_type="image")
    make_case(model_type="nlp", category="", output_type="text")
    make_case(model_type="nlp", category="sentiment")
    known = choices.known_values()
    assert known["model_type"] == ["computer_vision", "nlp"]
    assert known["category"] == ["boxes", "sentiment"]  # no empty value offered
    assert "image" in known["input_type"] and "text" in known["output_type"]


def test_the_case_list_offers_them_as_datalists(curator, login):
    make_case(model_type="computer_vision")
    html = login(curator).get("/cases/").content.decode()
    assert 'list="known-model_type"' in html
    assert '<datalist id="known-model_type"><option value="computer_vision">' in html
    assert '<datalist id="tag-options">' in html


def test_tag_suggestions_complete_the_last_tag(curator, login):
    make_case(tags=["negation", "news"])
    make_case(tags=["negation", "en"])
    make_case(tags=["n%"])
    assert choices.tag_suggestions("ne") == ["negation", "news"]  # most used first
    assert choices.tag_suggestions("en, ne") == ["en, negation", "en, news"]
    assert choices.tag_suggestions("negation, n") == ["negation, n%", "negation, news"]
    assert choices.tag_suggestions("n%") == ["n%"]  # LIKE wildcards are literal
    body = login(curator).get("/cases/tags/", {"tags_all": "en, ne"}).content.decode()
    assert '<option value="en, negation"></option>' in body


def test_a_bad_filter_keeps_the_scope_asked_for(curator, login):
    page = login(curator).get("/cases/", {"scope": "all", "json": "not json"})
    html = page.content.decode()
    assert 'data-scope="all"' in html and "Showing the golden set" not in html
    assert "json" in html  # the error is shown


def test_no_scope_pill_is_marked_on_the_server(curator, login):
    """The highlighted pill is the checked radio (CSS :has(input:checked)): a class set by the
    server stayed on Golden after htmx swapped the results for another scope."""
    html = login(curator).get("/cases/", {"scope": "all"}).content.decode()
    switch = html[html.index('class="scope-switch"') : html.index("</fieldset>")]
    assert 'class="on"' not in switch and 'value="all" checked' in switch
