"""The report's SVG charts, written in Python (evaluations/templatetags/charts.py): one shape per
figure, every label escaped, well-formed SVG."""

import xml.etree.ElementTree as ET

from django.template import Context, Template

SVG = "{http://www.w3.org/2000/svg}"


def render(source: str, **context) -> str:
    return Template("{% load charts %}" + source).render(Context(context))


def parse(html: str) -> ET.Element:
    svg = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    return ET.fromstring(svg.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def test_rate_chart_draws_a_bar_per_row_escaped_and_says_what_it_left_out():
    rows = [{"label": f"<b>{i}</b>", "rate": i / 30, "count": 1000 + i} for i in range(30)]
    rows[0].update(low=0.0, high=0.1)
    html = render('{% rate_chart rows "Pass rate by <tag>" %}', rows=rows)
    assert "<b>" not in html and "&lt;b&gt;0&lt;/b&gt;" in html
    svg = parse(html)
    assert svg.get("aria-label") == "Pass rate by <tag>"
    assert len(svg.findall(f"{SVG}g")) == 25
    assert len(svg.findall(f".//{SVG}rect[@class='bar']")) == 25
    assert len(svg.findall(f".//{SVG}line[@class='whisker']")) == 1
    assert svg.findall(f".//{SVG}title")[1].text == "<b>0</b>: 0.0% of 1,000"
    assert "5 more in the table." in html


def test_confusion_heatmap_cells_and_counts():
    labels = ["cat", "dog", "<bird>"]
    matrix = [[5, 1, 0], [2, 7, 0], [0, 0, 3]]
    svg = parse(render("{% confusion_heatmap labels matrix %}", labels=labels, matrix=matrix))
    cells = svg.findall(f".//{SVG}rect")
    assert len(cells) == 9
    assert len(svg.findall(f".//{SVG}rect[@class='cell diagonal']")) == 3
    counts = [text.text for text in svg.findall(f".//{SVG}text") if "count" in text.get("class")]
    assert counts == ["5", "1", "2", "7", "3"]  # zeros are not written
    assert "<bird>" in [text.text for text in svg.findall(f".//{SVG}text")]


def test_column_chart_bars_and_axis_labels():
    svg = parse(render('{% column_chart counts "Latency" 50 " ms" %}', counts=[3, 0, 9, 1]))
    bars = svg.findall(f".//{SVG}rect[@class='bar']")
    assert [bar.find(f"{SVG}title").text for bar in bars] == [
        "0–50 ms: 3",
        "50–100 ms: 0",
        "100–150 ms: 9",
        "150–200 ms: 1",
    ]
    assert float(bars[2].get("height")) == max(float(bar.get("height")) for bar in bars)
    assert [text.text for text in svg.findall(f"{SVG}text")] == ["9", "0", "0", "200 ms"]
