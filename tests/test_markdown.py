import pandas as pd
import pytest

from phazelab.markdown import replace_marked, table


def test_table_formats_floats_nan_and_pipes():
    df = pd.DataFrame({"name": ["a|b", "c"], "x": [0.12345, float("nan")], "n": [3, 4]})
    lines = table(df, digits=2).splitlines()
    assert lines[0] == "| name | x | n |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| a\\|b | 0.12 | 3 |" and lines[3] == "| c | n/a | 4 |"


def test_replace_marked_rewrites_only_its_section(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("# Title\n\nintro\n")
    assert replace_marked(doc, "study", "first numbers") is False  # appended
    doc.write_text(doc.read_text() + "\n## After\n\nkept\n")
    assert replace_marked(doc, "study", "second numbers\n") is True
    text = doc.read_text()
    assert "first numbers" not in text and text.count("second numbers") == 1
    assert text.startswith("# Title\n\nintro\n") and text.endswith("## After\n\nkept\n")
    assert text.count("<!-- study:begin -->") == 1 and text.count("<!-- study:end -->") == 1


def test_replace_marked_refuses_a_broken_section_and_leaves_the_file(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("<!-- study:begin -->\nold\n")
    with pytest.raises(ValueError, match="without a matching"):
        replace_marked(doc, "study", "new")
    assert doc.read_text() == "<!-- study:begin -->\nold\n"
    with pytest.raises(ValueError, match="marker name"):
        replace_marked(doc, "Bad Name", "x")


def test_to_html_renders_lists_and_emphasis_and_escapes_markup():
    from phazelab.markdown import to_html

    out = to_html("**Q3** is *inconclusive*: 0.63 < 0.8 `x`\n\n- one\n  - nested <script>\n- two")
    assert "<strong>Q3</strong>" in out and "<em>inconclusive</em>" in out and "<code>x</code>" in out
    assert "0.63 &lt; 0.8" in out and "&lt;script&gt;" in out and "<script>" not in out
    assert out.count("<ul>") == 2 and "<li>two</li>" in out
