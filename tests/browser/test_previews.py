"""Case previews as a browser draws them: detection boxes land on the image's pixels (over the
image, or on a blank canvas of its size), and the time-series chart has labelled axes whose
ticks sit where their values are."""

import base64
import struct
import zlib

import pytest
from playwright.sync_api import expect

from cases.models import TestCase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(width: int, height: int) -> str:
    """A grey PNG of that size, base64-encoded (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    raw += chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


@pytest.fixture
def page(session_context, live_server, viewer):
    tab = session_context(viewer).new_page()
    tab.set_default_timeout(15_000)
    tab.base = live_server.url
    return tab


def detection_case(input_data: dict, boxes: list[dict]) -> TestCase:
    return TestCase.objects.create(
        input_data=input_data,
        input_type="image_path",
        ground_truth={"boxes": boxes},
        output_type="bounding_boxes",
        model_type="computer_vision",
    )


def box_on_screen(page, index: int) -> dict:
    """The n-th box's rectangle in image pixels, measured from the drawing on the screen."""
    return page.evaluate(
        """(index) => {
            const svg = document.querySelector("svg.boxes-canvas");
            const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
            const frame = svg.querySelector("image, rect.canvas").getBoundingClientRect();
            const box = svg.querySelectorAll("g.box rect")[index].getBoundingClientRect();
            const sx = w / frame.width, sy = h / frame.height;
            return {x1: (box.left - frame.left) * sx, y1: (box.top - frame.top) * sy,
                    x2: (box.right - frame.left) * sx, y2: (box.bottom - frame.top) * sy,
                    frameWidth: frame.width, frameHeight: frame.height};
        }""",
        index,
    )


def assert_near(measured: dict, bbox: list[float], stroke: float) -> None:
    # The bounding rectangle includes half the stroke on each side.
    for key, value, sign in zip(("x1", "y1", "x2", "y2"), bbox, (-1, -1, 1, 1), strict=True):
        assert measured[key] == pytest.approx(value + sign * stroke / 2, abs=1.5), key


def test_boxes_on_a_blank_canvas_of_the_image_size(page):
    case = detection_case(
        {"image_path": "s3://golden/det/1.jpg", "width": 640, "height": 480},
        [
            {"label": "car", "bbox": [100, 50, 300, 250]},
            {"label": "person", "bbox": [400, 0, 460, 200]},
        ],
    )
    page.goto(f"{page.base}{case.get_absolute_url()}")
    svg = page.locator("svg.boxes-canvas")
    expect(svg).to_have_attribute("viewBox", "0 0 640 480")
    expect(page.locator(".preview-boxes")).to_contain_text("not reachable from the browser")
    measured = box_on_screen(page, 0)
    assert measured["frameWidth"] / measured["frameHeight"] == pytest.approx(640 / 480, abs=0.01)
    assert_near(measured, [100, 50, 300, 250], 640 / 250)
    assert_near(box_on_screen(page, 1), [400, 0, 460, 200], 640 / 250)
    expect(page.locator("g.box[data-label=car] text")).to_have_text("car")
    colours = page.locator("g.box rect").evaluate_all("rs => rs.map(r => r.getAttribute('stroke'))")
    assert len(set(colours)) == 2  # one colour per label


def test_boxes_over_an_image_of_unstated_size(page):
    case = detection_case(
        {"image_base64": png(200, 100)}, [{"label": "dog", "bbox": [20, 10, 120, 60]}]
    )
    case.input_type = "image_base64"
    case.save()
    page.goto(f"{page.base}{case.get_absolute_url()}")
    svg = page.locator("svg.boxes-canvas")
    # Before the image loads, the canvas spans the box; boxes.js then takes the image's size.
    expect(svg).to_have_attribute("data-fitted", "200x100")
    expect(svg).to_have_attribute("viewBox", "0 0 200 100")
    measured = box_on_screen(page, 0)
    assert measured["frameWidth"] / measured["frameHeight"] == pytest.approx(2, abs=0.01)
    assert_near(measured, [20, 10, 120, 60], 120 / 250)


def test_the_series_chart_has_axes_at_its_values(page):
    case = TestCase.objects.create(
        input_data={"series": [1, 3, 2, 5]},
        input_type="time_series",
        ground_truth={"values": [4, 6]},
        output_type="forecast",
        model_type="time_series",
    )
    page.goto(f"{page.base}{case.get_absolute_url()}")
    y_labels = page.locator(".series-chart .y-axis text")
    expect(y_labels).to_have_text(["1", "2", "3", "4", "5", "6"])
    expect(page.locator(".series-chart .x-axis text")).to_have_text(
        ["0", "1", "2", "3", "4", "5", "time step"]
    )
    for label in ("1", "5"):
        expect(page.locator(f".series-chart .y-axis text:text-is('{label}')")).to_be_visible()
    # The tick labelled 5 is level with the series' highest point (value 5, the 4th point), and
    # the x tick 3 under it; the tick labelled 1 level with the first point.
    geometry = page.evaluate(
        """() => {
            const svg = document.querySelector(".series-chart");
            const line = svg.querySelector("polyline.known");
            const toScreen = (p) => p.matrixTransform(line.getScreenCTM());
            const pts = Array.from(line.points).map(toScreen);
            const centre = (el) => { const r = el.getBoundingClientRect();
                return {x: (r.left + r.right) / 2, y: (r.top + r.bottom) / 2}; };
            const y = {}, x = {};
            svg.querySelectorAll(".y-axis text").forEach(t => y[t.textContent] = centre(t));
            svg.querySelectorAll(".x-axis text").forEach(t => x[t.textContent] = centre(t));
            return {pts: pts.map(p => ({x: p.x, y: p.y})), y, x};
        }"""
    )
    first, highest = geometry["pts"][0], geometry["pts"][3]
    assert geometry["y"]["5"]["y"] == pytest.approx(highest["y"], abs=2)
    assert geometry["y"]["1"]["y"] == pytest.approx(first["y"], abs=2)
    assert geometry["x"]["3"]["x"] == pytest.approx(highest["x"], abs=2)
    assert geometry["x"]["0"]["x"] == pytest.approx(first["x"], abs=2)
