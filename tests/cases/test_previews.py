"""Case previews computed on the server (cases/previews.py, cases/charts.py): round axis ticks,
boxes in the image's pixel coordinates, JSON that keeps a box on one line."""

import json

import pytest

from cases.charts import boxes_drawing, image_size, line_chart, nice_ticks, tick_label
from cases.previews import summary
from cases.shapes import Box
from mleval_site.jsontext import pretty_json
from runs.templatetags.outputs import model_output


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (1, 6, [1, 2, 3, 4, 5, 6]),
        (-5, 17, [-5, 0, 5, 10, 15, 20]),
        (0.001, 0.0042, [0.001, 0.002, 0.003, 0.004, 0.005]),
        (3, 3, [2.6, 2.8, 3.0, 3.2, 3.4]),  # a flat series still gets a range
        (0, 10, [0, 2, 4, 6, 8, 10]),
        (0, 12, [0, 2.5, 5, 7.5, 10, 12.5]),
    ],
)
def test_ticks_are_round_and_cover_the_range(low, high, ticks):
    assert nice_ticks(low, high) == pytest.approx(ticks)


def test_tick_labels_have_the_decimals_the_spacing_needs():
    assert [tick_label(v, [0, 2.5, 5]) for v in (0, 2.5, 5)] == ["0.0", "2.5", "5.0"]
    assert [tick_label(v, [10, 20]) for v in (10, 20)] == ["10", "20"]
    assert tick_label(2e7, [1e7, 2e7]) == "2e+07"


def test_the_chart_places_ticks_where_their_values_are():
    chart = line_chart([1, 3, 2, 5], [4, 6])
    y = {tick["label"]: tick["y"] for tick in chart["y_ticks"]}
    points = [tuple(map(float, p.split(","))) for p in chart["points"].split()]
    assert y["1"] == points[0][1] and y["5"] == points[3][1]
    x = {tick["label"]: tick["x"] for tick in chart["x_ticks"]}
    assert list(x) == ["0", "1", "2", "3", "4", "5"] and x["3"] == points[3][0]
    assert chart["future_points"].startswith(chart["points"].split()[-1])


def test_image_size_is_read_from_the_input():
    assert image_size({"width": 640, "height": 480}) == (640, 480)
    assert image_size({"image_width": 10, "image_height": 5.5}) == (10, 5.5)
    assert image_size({"size": [3, 4]}) == (3, 4)
    assert image_size({"width": 0, "height": 4}) is None
    assert image_size({"width": True, "height": 4}) is None


def test_boxes_without_a_size_span_the_boxes_and_fit_a_reachable_image():
    boxes = [Box("car", 10, 20, 110, 70)]
    drawing = boxes_drawing(boxes, None, "data:image/png;base64,AAAA")
    assert (drawing["width"], drawing["height"], drawing["fit"]) == (110, 70, True)
    [rect] = drawing["boxes"]
    assert (rect["x"], rect["y"], rect["width"], rect["height"]) == (10, 20, 100, 50)
    assert not boxes_drawing(boxes, (640, 480))["fit"]


def test_pretty_json_keeps_short_scalar_arrays_on_a_line():
    value = {"boxes": [{"label": "car", "bbox": [1, 2, 3, 4.5]}], "empty": [], "obj": {}}
    text = pretty_json(value)
    assert '"bbox": [1, 2, 3, 4.5]' in text and json.loads(text) == value
    long = list(range(100))
    assert pretty_json(long).count("\n") == 101 and json.loads(pretty_json(long)) == long


def test_model_output_draws_expected_and_predicted_boxes():
    expected = {"boxes": [{"label": "car", "bbox": [0, 0, 10, 10]}]}
    output = {"boxes": [{"label": "car", "bbox": [1, 1, 12, 9]}]}
    drawing = model_output(output, expected)["drawing"]
    assert len(drawing["boxes"]) == 1 and len(drawing["predicted"]) == 1
    assert drawing["boxes"][0]["colour"] != drawing["predicted"][0]["colour"]
    assert model_output({"label": "car"}, {"label": "car"})["drawing"] is None
    assert model_output(output, expected, "timeout")["drawing"] is None


@pytest.mark.django_db
def test_detail_page_draws_ground_truth_boxes(login, viewer, make_case):
    case = make_case(
        input_type="image_path",
        input_data={"image_path": "s3://b/1.jpg", "width": 640, "height": 480},
        output_type="bounding_boxes",
        ground_truth={"boxes": [{"label": "car", "bbox": [100, 50, 300, 250]}]},
    )
    html = login(viewer).get(case.get_absolute_url()).content.decode()
    assert 'viewBox="0 0 640 480"' in html and '<rect class="canvas"' in html
    assert '<rect x="100" y="50" width="200" height="200"' in html
    assert "boxes.js" not in html  # the size is known: nothing to fit


def test_summary_is_one_readable_line_text_first():
    stored = {
        "width": 640,
        "height": 480,
        "boxes": [[1, 2, 3, 4]] * 3,
        "image_path": "s3://b/1.jpg",
    }
    assert (
        summary(stored) == "image_path: s3://b/1.jpg · width: 640 · height: 480 · boxes: [3 items]"
    )
    assert summary({"series": list(range(28)), "n": [1]}) == "series: [28 numbers] · n: [1]"
    assert summary({"label": 3}) == "label: 3" and summary({}) == "{}"
    long = summary({"text": "word " * 100})
    assert len(long) <= 100 and long.endswith("word…")


@pytest.mark.django_db
def test_admin_lists_summaries_and_shows_the_full_json_on_the_change_page(
    login, admin_user, make_case
):
    case = make_case(
        input_data={"text": "A long review " * 20, "lang": "en"},
        output_type="bounding_boxes",
        ground_truth={"boxes": [{"label": "car", "bbox": [1, 2, 3, 4]}]},
    )
    client = login(admin_user)
    listing = client.get("/admin/cases/testcase/").content.decode()
    case.refresh_from_db()  # as jsonb stores it: keys shortest first
    assert summary(case.input_data) in listing and "{&#x27;text&#x27;" not in listing
    page = client.get(f"/admin/cases/testcase/{case.pk}/change/").content.decode()
    assert ("A long review " * 20).strip() in page and "&quot;bbox&quot;: [1, 2, 3, 4]" in page
