"""phazelab.display: the tables and sentences a learner reads in a notebook."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from phazelab.display import bullets, format_frame, format_value, table_view, text_block


@pytest.mark.parametrize("value, text", [
    (0.4333333, "0.433"), (np.float32(0.5), "0.500"), (12288, "12,288"), (np.int64(3), "3"),
    (3752.4, "3,752.400"), (3072.0, "3,072"), (float("nan"), "–"), (None, "–"), (math.inf, "∞"),
    (True, "yes"), (np.bool_(False), "no"), ([0.0533, 0.085455], "[0.053, 0.085]"), ("a swap", "a swap"),
])
def test_format_value(value, text):
    assert format_value(value) == text


def test_format_frame_turns_named_index_levels_into_columns_and_drops_row_numbers():
    part = pd.DataFrame({"block": ["encoder", "fc_b"], "flip": [0.4333, 0.1]})
    frame = format_frame(pd.concat({"default": part, "split": part}, names=["topology"]))
    assert list(frame.columns) == ["topology", "block", "flip"]
    assert list(frame["topology"]) == ["default", "", "split", ""]  # the group label once per group
    assert list(frame["flip"]) == ["0.433", "0.100"] * 2
    labelled = format_frame(pd.DataFrame({"success": [0.5]}, index=["model: default"]))
    assert list(labelled.iloc[0]) == ["model: default", "0.500"]


def test_table_view_shows_main_columns_and_hides_the_rest_behind_details():
    part = pd.DataFrame({"kind": ["model"], "leakage": [0.0701812], "judged_new": [0.123456]})
    page = table_view(pd.concat({"default": part}, names=["topology"]), ["kind", "leakage"], caption="x").data
    main, details = page.split("<details>")
    assert "topology" in main and "0.070" in main and "judged_new" not in main
    assert "all 4 columns" in details and "judged_new" in details and "0.123" in details
    assert "0.0701812" not in page and page.count("overflow:auto") == 2
    # the browser check fails a main table that needs a sideways scroll; a details table may scroll
    assert "phazelab-table-main" in main and "phazelab-table-details" in details
    assert "<details>" not in table_view(part).data  # nothing left out: no toggle
    long = "load the encoder, fc_b and the shared G-Block from stage 1, train the rest"
    assert long in table_view(pd.DataFrame({"what": [long]})).data  # never cut with "…"
    with pytest.raises(KeyError, match="nope"):
        table_view(part, ["kind", "nope"])


def test_bullets_and_text_block_are_markdown_that_keeps_code_spans():
    assert bullets(["one", "two `x_y`"], title="T").data == "**T**\n\n- one\n- two `x_y`"
    text = text_block("data/models/split_decoders: made by `run --topology split_decoders`.\nnext\n\nnew")
    assert text.data == ("data/models/split\\_decoders: made by `run --topology split_decoders`.  \nnext\n\nnew")


def test_table_view_aligns_words_left_and_numbers_right():
    # JupyterLab right-aligns every td; columns of words are aligned left, numbers stay right
    df = pd.DataFrame({"arm": ["encoder+fc_b", "none"], "psnr": [1.234, 23456.0], "ok": [True, False],
                       "ci": [[0.1, 0.2], [0.3, 0.4]], "why": ["loads the encoder", float("nan")]})
    page = table_view(df).data
    heads = re.findall(r"<th([^>]*)>([^<]*)</th>", page)
    assert [name for style, name in heads if "left" in style] == ["arm", "why"]
    assert all("padding" in style for style, _ in heads)  # padded: a widget's HTML gives a table none
    first = re.findall(r"<td([^>]*)>", re.search(r"<tbody>\s*<tr>(.*?)</tr>", page, re.S)[1])
    assert ["left" in style for style in first] == [True, False, False, False, True]
    assert "nowrap" in first[0]  # a short label stays on one line; a long one wraps
    long = table_view(df.assign(arm=["a long label " * 4] * 2)).data
    assert "nowrap" not in re.findall(r"<td([^>]*)>", re.search(r"<tbody>\s*<tr>(.*?)</tr>", long, re.S)[1])[0]
