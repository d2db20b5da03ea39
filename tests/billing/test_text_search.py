from billing.text_search import contains


def test_wildcards_are_matched_literally():
    assert contains(" 50%_off\\ ") == "%50\\%\\_off\\\\%"


def test_search_for_percent_finds_only_literal_percent(db):

    from billing.services import search_services
    from tests.factories import ServiceFactory

    ServiceFactory(code="A", name="Desk 100% quiet")
    ServiceFactory(code="B", name="Desk 100 quiet")
    found = db.scalars(search_services(db, "100%")).all()
    assert [s.code for s in found] == ["A"]
    assert db.scalars(search_services(db, "_")).all() == []
