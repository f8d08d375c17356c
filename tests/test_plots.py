"""Plots: the expected traces, shapes and contents for known inputs; static HTML written atomically."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from phazelab.analysis.plots import (
    cka_heatmap,
    image_grid_figure,
    latent_scatter,
    loss_curves,
    metric_bars,
    swap_grid,
    tile,
    write_html,
)


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, pd.DataFrame, torch.Tensor]:
    rng = np.random.default_rng(0)
    n = 12
    frame = pd.DataFrame({"identity": np.repeat([3, 5, 7], 4), "yaw": rng.uniform(-40, 40, n),
                          "side": ["a", "b"] * 6})
    thumbs = torch.rand(n, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    return rng.normal(size=(n, 3)), frame, thumbs


def test_latent_scatter_categorical_with_thumbnails(points):
    coords, frame, thumbs = points
    fig = latent_scatter(coords, frame, "identity", thumbnails=thumbs, thumb_size=16)
    assert [t.name for t in fig.data] == ["identity=3", "identity=5", "identity=7"]
    for trace, ident in zip(fig.data, (3, 5, 7), strict=True):
        rows = [int(c[0]) for c in trace.customdata]
        assert (frame.loc[rows, "identity"] == ident).all()  # each point maps back to its own row
        np.testing.assert_allclose(trace.x, coords[rows, 0])
        np.testing.assert_allclose(trace.y, coords[rows, 1])
    # the thumbnail of point 0 is that face, as a 16 px PNG
    uri = next(c[1] for t in fig.data for c in t.customdata if int(c[0]) == 0)
    png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert png.size == (16, 16)
    mean_rgb = np.asarray(png, dtype=float).mean((0, 1)) / 255
    np.testing.assert_allclose(mean_rgb, thumbs[0].mean((1, 2)).numpy(), atol=0.02)
    assert fig.layout.meta["thumbnails"] is True


def test_latent_scatter_continuous_and_3d(points):
    coords, frame, _ = points
    fig = latent_scatter(coords, frame, "yaw")
    assert len(fig.data) == 1 and fig.data[0].marker.showscale
    np.testing.assert_allclose(fig.data[0].marker.color, frame["yaw"])
    fig3 = latent_scatter(coords, frame, "side", dims=3)
    assert {t.type for t in fig3.data} == {"scatter3d"} and len(fig3.data) == 2
    np.testing.assert_allclose(sorted(np.concatenate([t.z for t in fig3.data])), sorted(coords[:, 2]))
    with pytest.raises(ValueError, match="color_by"):
        latent_scatter(coords, frame, "pitch")
    with pytest.raises(ValueError, match="rows"):
        latent_scatter(coords[:5], frame)


def test_as_widget_gives_figure_widget(points):
    coords, frame, _ = points
    widget = latent_scatter(coords, frame, "identity", as_widget=True)
    assert isinstance(widget, go.FigureWidget) and len(widget.data) == 3


def test_write_html_is_atomic_and_carries_thumbnail_script(points, tmp_path):
    coords, frame, thumbs = points
    path = write_html(latent_scatter(coords, frame, thumbnails=thumbs), tmp_path / "map.html",
                      include_plotlyjs="cdn")
    text = path.read_text()
    # plotly escapes "/" in its JSON, so look for the data-URI parts
    assert "plotly_hover" in text and "plotly_selected" in text and text.count("data:image") == 12
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]  # no temp file left behind
    plain = write_html(metric_bars(pd.DataFrame({"block": ["e"], "m": [1.0]}), "m"), tmp_path / "b.html",
                       include_plotlyjs="cdn").read_text()
    assert "plotly_hover" not in plain
    with pytest.raises(ValueError, match=".html"):
        write_html(go.Figure(), tmp_path / "x.png")


def test_metric_bars_groups_and_chance():
    table = pd.DataFrame({"block": ["encoder", "fc_a"] * 2, "model": ["default"] * 2 + ["split"] * 2,
                          "probe_acc": [0.9, 0.5, 0.8, 0.4], "probe_chance": [0.25] * 4,
                          "r2_yaw": [0.7, 0.1, 0.6, 0.2], "r2_chance": [0.0] * 4})
    fig = metric_bars(table, "probe_acc")
    assert [(t.type, t.name) for t in fig.data] == [("bar", "default"), ("bar", "split"),
                                                    ("scatter", "chance")]
    assert list(fig.data[1].y) == [0.8, 0.4] and list(fig.data[2].y) == [0.25, 0.25]
    assert list(metric_bars(table, "r2_yaw").data[-1].y) == [0.0, 0.0]  # r2_yaw → r2_chance
    assert [t.type for t in metric_bars(table, "probe_acc", chance=None).data] == ["bar", "bar"]


def _history(frozen: list) -> pd.DataFrame:
    steps = np.arange(1, 21)
    return pd.DataFrame({"step": steps, "loss": 2 / steps, "loss_a": 1 / steps, "loss_b": 1 / steps,
                         "img_per_s": 30.0, "lr": 5e-5, "frozen": frozen})


EVENTS = [{"step": 0, "kind": "freeze", "blocks": ["encoder"], "detail": "kickstart"},
          {"step": 10, "kind": "unfreeze", "blocks": ["encoder"], "detail": "schedule"}]


def test_loss_curves_shade_frozen_steps_and_mark_events():
    fig = loss_curves(_history([["encoder"]] * 10 + [[]] * 10), EVENTS)
    assert [t.name for t in fig.data] == ["loss_a", "loss_b"]
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [(r.x0, r.x1) for r in rects] == [(0.5, 10.5)]  # steps 1..10 trained with the encoder frozen
    assert sorted(line.x0 for line in lines) == [0.5, 10.5]
    texts = {a.text for a in fig.layout.annotations}
    assert {"frozen: encoder", "freeze: encoder", "unfreeze: encoder"} <= texts
    # without a per-step "frozen" column the shading comes from the events
    fig2 = loss_curves(_history([[]] * 20).drop(columns="frozen"), EVENTS, y=["loss"])
    assert [t.name for t in fig2.data] == ["loss"]
    assert [(r.x0, r.x1) for r in fig2.layout.shapes if r.type == "rect"] == [(0.5, 10.5)]
    with pytest.raises(ValueError, match="not in history"):
        loss_curves(_history([[]] * 20), y=["loss_c"])


def test_events_at_one_step_share_a_label_and_close_ones_alternate():
    events = [{"step": 5, "kind": "load", "blocks": ["encoder"]}, {"step": 5, "kind": "freeze", "blocks": ["encoder"]},
              {"step": 6, "kind": "lr", "blocks": []}]
    fig = loss_curves(_history([[]] * 20), events)
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted(line.x0 for line in lines) == [5.5, 6.5]  # one line per step
    labels = [a for a in fig.layout.annotations if a.text != "lr"]
    assert [a.text for a in labels] == ["load: encoder<br>freeze: encoder"]
    lr = next(a for a in fig.layout.annotations if a.text == "lr")
    assert lr.y != labels[0].y  # the neighbouring step's label is drawn at the other end of the line


def test_tile_places_each_image():
    imgs = torch.zeros(5, 3, 4, 4)
    imgs[3] = 1.0  # the 4th image is white: row 1, column 0 with nrow=3
    grid = tile(imgs, nrow=3, padding=1, fill=0.5)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3) and grid.dtype == np.uint8
    assert (grid[6:10, 1:5] == 255).all() and (grid[1:5, 1:5] == 0).all() and grid[0, 0, 0] == 128
    fig = image_grid_figure(imgs, nrow=3, padding=1)
    assert fig.data[0].type == "image" and np.asarray(fig.data[0].z).shape == grid.shape


def test_swap_grid_rows_and_resize():
    inputs = torch.zeros(4, 3, 8, 8)
    outputs = torch.full((4, 3, 16, 16), 0.5)
    targets = torch.ones(4, 3, 16, 16)
    fig = swap_grid(inputs, outputs, targets, n=3)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (3 * 18 + 2, 3 * 18 + 2, 3)  # 3 rows x 3 samples of 16 px, 2 px padding
    assert list(fig.layout.yaxis.ticktext) == ["input", "swap", "ground truth"]
    assert z[2 + 8, 2 + 8, 0] == 0 and z[20 + 8, 2 + 8, 0] == 128 and z[38 + 8, 2 + 8, 0] == 255
    with pytest.raises(ValueError, match="must match"):
        swap_grid(inputs[:2], outputs, targets)


def test_cka_heatmap_values_and_labels():
    m = pd.DataFrame([[1.0, 0.2], [0.3, 0.9]], index=["enc", "fc_a"], columns=["enc", "fc_b"])
    fig = cka_heatmap(m)
    assert fig.data[0].type == "heatmap"
    np.testing.assert_allclose(fig.data[0].z, m.to_numpy())
    assert list(fig.data[0].y) == ["enc", "fc_a"] and list(fig.data[0].x) == ["enc", "fc_b"]
    fig2 = cka_heatmap(np.eye(3), ["a", "b", "c"])
    assert list(fig2.data[0].x) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="labels"):
        cka_heatmap(np.eye(3), ["a", "b"])


@pytest.mark.browser
def test_static_html_shows_face_on_hover_and_selection(points, tmp_path):
    """The thumbnail script in a real browser: hover shows that point's face, a box selection lists faces."""
    import os
    import shutil

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("Debian chromium is not installed (make test installs it where root + apt-get allow)")
    sync_api = pytest.importorskip("playwright.sync_api")
    coords, frame, thumbs = points
    fig = latent_scatter(coords, frame, "identity", thumbnails=thumbs)
    path = write_html(fig, tmp_path / "map.html")  # plotly.js embedded: no network needed
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            point = page.locator(".scatterlayer .trace").first.locator(".point").first
            point.wait_for()
            box = point.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            shown = page.wait_for_function(
                "() => [...document.querySelectorAll('body > div > img')]"
                ".find(i => i.parentElement.style.display === 'block')?.src")
            first_row = int(fig.data[0].customdata[0][0])
            assert shown.json_value() == fig.data[0].customdata[0][1]  # that point's own face
            assert first_row in frame.index[frame["identity"] == 3]
            page.evaluate("() => Plotly.relayout(document.querySelector('.js-plotly-plot'), {dragmode: 'select'})")
            area = page.locator(".nsewdrag").first.bounding_box()
            page.mouse.move(area["x"] + 2, area["y"] + 2)
            page.mouse.down()
            page.mouse.move(area["x"] + area["width"] - 2, area["y"] + area["height"] - 2, steps=8)
            page.mouse.up()
            page.wait_for_function("() => document.querySelectorAll('.phazelab-selection img').length > 0")
            assert page.locator(".phazelab-selection img").count() == len(frame)
        finally:
            browser.close()


def test_3d_scatter_names_its_axes_and_leaves_room_for_them():
    fig = latent_scatter(np.random.default_rng(0).normal(size=(10, 3)), dims=3, color_by=None)
    assert [fig.layout.scene[a].title.text for a in ("xaxis", "yaxis", "zaxis")] == \
        ["component 1", "component 2", "component 3"]
    assert fig.layout.margin.l >= 10 and fig.layout.scene.camera.eye.x > 1.25  # pulled back from plotly's 1.25


def test_metric_bars_never_stacks_a_block_tables_null_rows():
    """A block_table with baselines has the model's row, one row per untrained seed and the pixel rows
    for each model: one bar per trace and block, the seeds averaged, the pixel baselines drawn once."""
    rows = []
    for model, acc in (("default", 0.6), ("split", 0.7)):
        for kind, a in (("model", acc), ("untrained (seed 1000)", 0.2), ("untrained (seed 1001)", 0.3)):
            rows += [{"model": model, "block": b, "kind": kind, "probe_acc": a, "probe_chance": 0.125}
                     for b in ("encoder", "fc_a")]
        rows += [{"model": model, "block": "pixels (raw)", "kind": "baseline", "probe_acc": 0.58,
                  "probe_chance": 0.125}]
    fig = metric_bars(pd.DataFrame(rows), "probe_acc")
    bars = {t.name: dict(zip(t.x, t.y, strict=True)) for t in fig.data if t.type == "bar"}
    assert set(bars) == {"default", "default · untrained, mean of 2 seeds", "split",
                         "split · untrained, mean of 2 seeds", "baselines (pixels)"}
    for t in fig.data:
        if t.type == "bar":
            assert len(set(t.x)) == len(t.x)  # one bar per block in each trace: nothing stacks
    assert bars["default"] == {"encoder": 0.6, "fc_a": 0.6}
    assert bars["split · untrained, mean of 2 seeds"]["encoder"] == pytest.approx(0.25)
    assert bars["baselines (pixels)"] == {"pixels (raw)": 0.58}


def test_image_grids_have_no_fixed_width_so_they_never_clip():
    fig = image_grid_figure(torch.rand(16, 3, 64, 64), nrow=8, title="t")
    assert fig.layout.width is None and fig.layout.autosize and fig.layout.height < 1000
