"""The pages_20k benchmark's own arithmetic and HTML look-ups (bench.pages, bench.pages_http,
bench.pages_data): what decides the figures it prints. Nothing here runs gunicorn or times
anything; ``make bench`` does that."""

from __future__ import annotations

from bench import pages_data, pages_http
from bench.pages import Measured, summarise, vs_healthz


def measured(median_ms: float, queries: int = 5) -> Measured:
    return Measured(path="/", queries=queries, median_ms=median_ms, p90_ms=median_ms, kib=1.0)


def test_the_sizes_hold_the_issue_s_counts():
    s, l_ = pages_data.S, pages_data.L
    assert (s.customers, s.invoices, s.invoices * s.lines_per_invoice, s.payments) == (
        20,
        200,
        600,
        100,
    )
    assert (l_.customers, l_.invoices, l_.invoices * l_.lines_per_invoice, l_.payments) == (
        2000,
        20000,
        60000,
        10000,
    )
    # 20,000 invoice jobs, 3,200 portal payments, 2,000 contacts.
    assert l_.portal_payments == 3200
    assert l_.sync_jobs == 25200
    assert s.sync_jobs == 252
    # Every other invoice is paid: there are enough invoices for the payments.
    assert 2 * l_.payments <= l_.invoices and 2 * s.payments <= s.invoices


def test_the_worst_page_is_the_largest_ratio_of_medians():
    small = {"a": measured(10), "b": measured(20), "c": measured(5)}
    large = {"a": measured(15), "b": measured(70), "c": measured(6)}
    summary = summarise(small, large)
    assert summary["worst_page"] == "b"
    assert summary["worst_l_over_s"] == 3.5
    assert summary["queries_grow"] is False
    assert summary["queries_grown_pages"] == []


def test_a_page_faster_at_l_still_gives_a_worst_ratio():
    summary = summarise({"a": measured(10)}, {"a": measured(8)})
    assert summary["worst_page"] == "a"
    assert summary["worst_l_over_s"] == 0.8


def test_queries_grow_names_every_page_with_more_statements_at_l():
    small = {"a": measured(10, 5), "b": measured(10, 7), "c": measured(10, 4)}
    large = {"a": measured(10, 6), "b": measured(10, 7), "c": measured(10, 30)}
    summary = summarise(small, large)
    assert summary["queries_grow"] is True
    assert summary["queries_grown_pages"] == ["a", "c"]


def test_fewer_statements_at_l_is_not_growth():
    summary = summarise({"a": measured(10, 9)}, {"a": measured(10, 8)})
    assert summary["queries_grow"] is False


def test_throughput_is_compared_with_healthz():
    rps = {"healthz": 400.0, "member_home": 120.0}
    assert vs_healthz(rps, "member_home") == 0.3
    assert vs_healthz(rps, "admin_invoices") is None
    assert vs_healthz({"healthz": 0.0, "member_home": 1.0}, "member_home") is None


def test_csrf_token_is_read_whatever_the_attribute_order():
    assert (
        pages_http.csrf_token('<input id="csrf_token" name="csrf_token" value="a&amp;b">') == "a&b"
    )
    assert pages_http.csrf_token('<input value="tok" type="hidden" name="csrf_token">') == "tok"


OFFSET_PAGER = """
<div class="pager">
  <span class="muted">Page 1 of 800 (20000 in all)</span>
  <a href="/admin/invoices?page=2&amp;q=x">Next &rarr;</a>
</div>
"""
KEYSET_PAGER = """
<a href="/admin/invoices/17">INV-00017</a>
<nav class="pager"><a href="/admin/invoices?before=2026-11-30T10%3A00%3A00_19976">
  Older <span aria-hidden="true">&rarr;</span></a></nav>
"""


def test_the_older_link_of_an_offset_pager_and_its_page_count():
    assert pages_http.older_link(OFFSET_PAGER) == "/admin/invoices?page=2&q=x"
    assert pages_http.page_count(OFFSET_PAGER) == 800


def test_the_older_link_of_a_keyset_pager_has_no_page_count():
    assert pages_http.older_link(KEYSET_PAGER) == (
        "/admin/invoices?before=2026-11-30T10%3A00%3A00_19976"
    )
    assert pages_http.page_count(KEYSET_PAGER) is None


def test_no_older_link_on_the_last_page():
    assert pages_http.older_link('<a href="/admin/invoices?page=7">&larr; Previous</a>') is None
    assert pages_http.older_link('<a href="/admin/invoices?after=5">&larr; Newer</a>') is None


def test_a_tiny_dataset_holds_what_the_builder_claims(fresh_database_url):
    """The builder at a tiny size: the outbox wrote one job per invoice, per portal payment
    and per customer, all marked done, and the measured member can be found."""
    tiny = pages_data.Size("tiny", customers=3, invoices=12, payments=5)
    url = fresh_database_url("bench_pages")
    pages_data.build(url, tiny, log=lambda _line: None)
    assert pages_data.check(url, tiny) == []
    marks = pages_data.landmarks(url, tiny)
    assert marks.member_email == pages_data.member_email(tiny.measured_customer)
    assert marks.customer_name == pages_data.customer_name(tiny.measured_customer)
