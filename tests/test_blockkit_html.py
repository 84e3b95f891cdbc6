"""The Block Kit → HTML renderer of the tests (tests/blockkit_html.py) on its own."""

from __future__ import annotations

import pytest

from tests.blockkit_html import UnknownBlockKit, block_html, blocks_html, mrkdwn, page


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(label: str, style: str | None = None) -> dict:
    element = {"type": "button", "action_id": "a", "value": "v", "text": {"type": "plain_text", "text": label}}
    return element | ({"style": style} if style else {})


def test_mrkdwn_marks_become_html() -> None:
    assert mrkdwn("*bold* _italic_ ~gone~ `x = 1`") == (
        '<b>bold</b> <i>italic</i> <s>gone</s> <code class="bk-code">x = 1</code>'
    )
    assert mrkdwn("one\ntwo") == "one<br>two"
    assert mrkdwn("*Kill switch*: off") == "<b>Kill switch</b>: off"
    assert (
        mrkdwn("*<https://a.example/x|the report>*")
        == '<b><a class="bk-link" href="https://a.example/x">the report</a></b>'
    )


def test_marks_inside_words_and_code_stay_as_typed() -> None:
    assert mrkdwn("snake_case_name 2*3*4") == "snake_case_name 2*3*4"
    assert mrkdwn("`*not bold*`") == '<code class="bk-code">*not bold*</code>'
    assert mrkdwn("* not bold *") == "* not bold *"


def test_links_mentions_and_dates() -> None:
    assert mrkdwn("<https://x.example/?a=1&amp;b=2>") == (
        '<a class="bk-link" href="https://x.example/?a=1&amp;b=2">https://x.example/?a=1&amp;b=2</a>'
    )
    assert mrkdwn("ask <@U0ADMIN>") == 'ask <span class="bk-mention">@U0ADMIN</span>'
    assert mrkdwn("<#C0ADMIN|jira-admins>") == '<span class="bk-mention">#jira-admins</span>'
    assert mrkdwn("<!here>") == '<span class="bk-mention">@here</span>'
    assert mrkdwn("<!date^1718000000^{date}|10 Jun 2024>") == '<span class="bk-mention">10 Jun 2024</span>'


def test_hostile_text_is_escaped_everywhere() -> None:
    # What the bot escapes for Slack (&amp; &lt; &gt;) shows as the characters, never as markup.
    assert mrkdwn("Tom &amp; Jerry &lt;script&gt;alert(1)&lt;/script&gt;") == (
        "Tom &amp; Jerry &lt;script&gt;alert(1)&lt;/script&gt;"
    )
    # Raw markup in mrkdwn is read as Slack reads it (links), and only its words come out.
    assert "<script" not in mrkdwn("<script>alert(1)</script>")
    assert mrkdwn("<javascript:alert(1)|click>") == "click"
    assert mrkdwn('<https://x.example/"onmouseover="x|a>') == (
        '<a class="bk-link" href="https://x.example/&quot;onmouseover=&quot;x">a</a>'
    )
    hostile = '<script>alert("x")</script> & <b>'
    rendered = blocks_html(
        [
            {"type": "header", "text": {"type": "plain_text", "text": hostile}},
            {"type": "actions", "elements": [button(hostile)]},
            {"type": "context", "elements": [{"type": "plain_text", "text": hostile}]},
            {"type": "image", "image_url": "https://x.example/a.png", "alt_text": hostile},
        ]
    )
    assert "<script" not in rendered
    assert "<b>" not in rendered
    assert rendered.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;") == 4
    assert "\ue000" not in mrkdwn("\ue0000\ue001 *x*")


def test_blocks_take_slacks_shapes() -> None:
    assert block_html({"type": "divider"}) == '<hr class="bk-divider">'
    fields = section("Totals", fields=[{"type": "mrkdwn", "text": "*Seats*\n2"}, {"type": "plain_text", "text": "3"}])
    assert 'class="bk-fields"' in block_html(fields)
    assert block_html(fields).count('class="bk-field"') == 2
    actions = block_html(
        {"type": "actions", "elements": [button("Go", "primary"), button("Stop", "danger"), button("?")]}
    )
    assert 'class="bk-button bk-primary">Go<' in actions
    assert 'class="bk-button bk-danger">Stop<' in actions
    assert 'class="bk-button">?<' in actions
    assert "bk-button" in block_html(section("with a button", accessory=button("Open")))
    assert 'class="bk-context-text"' in block_html({"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}]})


def test_images_show_local_files_and_label_the_rest() -> None:
    shown = block_html({"type": "image", "image_url": "file:///tmp/chart.png", "alt_text": "the chart"})
    assert '<img class="bk-img" src="file:///tmp/chart.png" alt="the chart">' in shown
    assert "<img" in block_html({"type": "image", "image_url": "data:image/png;base64,AAAA", "alt_text": "x"})
    elsewhere = block_html({"type": "image", "image_url": "https://x.example/chart.png", "alt_text": "the chart"})
    assert "<img" not in elsewhere
    assert "bk-placeholder" in elsewhere
    assert "Image: the chart" in elsewhere


@pytest.mark.parametrize(
    "block",
    [
        {"type": "rich_text", "elements": []},
        {"type": "input", "label": {"type": "plain_text", "text": "x"}, "element": {}},
        {"type": "actions", "elements": [{"type": "static_select", "action_id": "s"}]},
        {"type": "actions", "elements": []},
        {"type": "actions", "elements": [button("x", "secondary")]},
        {"type": "actions", "elements": [button("x") | {"text": {"type": "mrkdwn", "text": "x"}}]},
        {"type": "context", "elements": [button("x")]},
        section("x", accessory={"type": "overflow", "options": []}),
        section("x", expand=True),
        {"type": "section"},
        {"type": "section", "text": {"type": "markdown", "text": "x"}},
        {"type": "image", "slack_file": {"url": "x"}, "alt_text": "x"},
        "not a block",
    ],
)
def test_anything_unknown_raises(block) -> None:
    with pytest.raises(UnknownBlockKit):
        block_html(block)


def test_the_page_frames_the_blocks_as_the_app_home() -> None:
    html = page([section("hello")], app_name="jira-cleanup")
    assert html.startswith("<!doctype html>")
    assert '<span class="app-tab app-tab-active">Home</span>' in html
    assert '<div class="bk-text">hello</div>' in html
    with pytest.raises(UnknownBlockKit):
        page([section("fine"), {"type": "video"}])
