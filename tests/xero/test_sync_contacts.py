"""Customers become Xero contacts by the matching rules of ``xero.sync.contacts``, through the real
worker, xero-python and the sandbox. Contacts "already in Xero" are seeded straight into the
sandbox's state, as if someone had typed them in Xero."""

from xero.models import JobKind, JobStatus
from xero.sync import contacts


def invoice_job(env, invoice_id):
    [job] = [j for j in env.jobs() if j.kind == JobKind.INVOICE and j.object_id == invoice_id]
    return job


def contact_of_invoice(env, invoice_id):
    [xero_invoice] = [
        i
        for i in env.xero_invoices()
        if i.invoice_id.lower() == env.link(invoice_id).xero_invoice_id.lower()
    ]
    return env.xero_contact(xero_invoice.contact_id)


def test_a_stored_contact_id_wins_without_a_lookup(env):
    chosen = env.add_xero_contact("Brightdesk Trading", contact_number="BD-1")
    # Another contact matches the customer's name and email: the stored id still wins.
    env.add_xero_contact("Brightdesk Ltd", email="ap@brightdesk.example")
    customer_id = env.add_customer(name="Brightdesk Ltd", email="ap@brightdesk.example")
    env.set_customer(customer_id, xero_contact_id=chosen)
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    assert contact_of_invoice(env, invoice_id).contact_id == chosen
    assert len(env.xero_contacts()) == 2
    calls = env.service.counter.by_method
    assert "get_contacts" not in calls and "create_contacts" not in calls


def test_a_ledger_code_that_is_a_contact_number_in_xero_links_to_it(env):
    existing = env.add_xero_contact("Acme Holdings (Xero name)", contact_number="ACME")
    customer_id = env.add_customer(name="Acme Ltd", ledger_code="ACME", email="a@acme.example")
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    assert env.customer(customer_id).xero_contact_id.lower() == existing.lower()
    assert contact_of_invoice(env, invoice_id).contact_id == existing
    assert len(env.xero_contacts()) == 1
    assert "create_contacts" not in env.service.counter.by_method


def test_a_blank_ledger_code_creates_the_contact_and_writes_its_code_back(env):
    customer_id = env.add_customer(name="Northwind Apps", email="finance@northwind.example")
    env.issue(customer_id)

    env.worker().drain()

    [contact] = env.xero_contacts()
    customer = env.customer(customer_id)
    assert contact.name == "Northwind Apps"
    assert contact.email_address == "finance@northwind.example"
    assert customer.xero_contact_id.lower() == contact.contact_id.lower()
    assert customer.ledger_code == contact.contact_number == f"CUST-{customer_id:05d}"


def test_a_ledger_code_not_in_xero_creates_the_contact_with_that_code(env):
    env.add_xero_contact("Someone Else", contact_number="OTHER")
    customer_id = env.add_customer(name="Globex", ledger_code="GLX-7")
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    contact = contact_of_invoice(env, invoice_id)
    assert (contact.name, contact.contact_number) == ("Globex", "GLX-7")
    assert env.customer(customer_id).ledger_code == "GLX-7"
    assert len(env.xero_contacts()) == 2


def test_an_email_match_links(env):
    existing = env.add_xero_contact("Initech (accounts)", email="billing@initech.example")
    customer_id = env.add_customer(
        name="Initech", email="billing@initech.example", ledger_code="INI"
    )
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    assert contact_of_invoice(env, invoice_id).contact_id == existing
    assert env.customer(customer_id).xero_contact_id.lower() == existing.lower()
    assert len(env.xero_contacts()) == 1


def test_an_exact_name_match_links(env):
    existing = env.add_xero_contact("Umbrella Coworking")
    customer_id = env.add_customer(name="Umbrella Coworking", email="desk@umbrella.example")
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    assert contact_of_invoice(env, invoice_id).contact_id == existing
    assert len(env.xero_contacts()) == 1


def test_a_name_taken_by_a_contact_with_another_code_is_a_clash_not_a_second_contact(env):
    env.add_xero_contact("Hooli", contact_number="HOO-XERO")
    customer_id = env.add_customer(name="Hooli", ledger_code="HOO-PORTAL")
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    job = invoice_job(env, invoice_id)
    assert job.status == JobStatus.NEEDS_ATTENTION
    assert 'named "Hooli" already exists with code HOO-XERO' in job.last_error
    assert [c.name for c in env.xero_contacts()] == ["Hooli"]
    assert env.xero_invoices() == []
    assert env.customer(customer_id).xero_contact_id is None
    # The look-up goes by code and email; the name only matters once Xero refuses a create
    # for it, and then the portal looks the name up and reports the clash.
    assert env.service.counter.by_method.get("create_contacts", 0) <= 1


def test_editing_a_linked_customer_updates_its_xero_contact(env):
    customer_id = env.add_customer(name="Vandelay", email="art@vandelay.example")
    env.issue(customer_id)
    env.worker().drain()
    [contact] = env.xero_contacts()

    env.edit_customer(customer_id, name="Vandelay Industries", email="ap@vandelay.example")
    [job] = [j for j in env.jobs() if j.kind == JobKind.CONTACT]
    assert job.object_id == customer_id and job.status == JobStatus.PENDING
    env.worker().drain()

    assert env.xero_contacts() == [contact]
    # "Keep client names in sync" is off by default: the Xero contact keeps its name
    # (tests/portal/test_contact_names.py has it on as well).
    assert contact.name == "Vandelay"
    assert contact.email_address == "ap@vandelay.example"
    assert contact.contact_number == f"CUST-{customer_id:05d}"
    assert all(j.status == JobStatus.DONE for j in env.jobs())


def portal_notes(contact):
    return [h.details for h in contact.history if h.changes == "Note" and "portal" in h.details]


def test_linked_contacts_get_a_history_note_and_created_ones_only_xeros_own(env):
    linked = env.add_xero_contact("Stark Offices")
    created_id = env.add_customer(name="Wayne Desks", ledger_code="WAYNE")
    env.issue(created_id)
    env.issue(env.add_customer(name="Stark Offices"))

    env.worker().drain()

    [created] = [c for c in env.xero_contacts() if c.name == "Wayne Desks"]
    assert portal_notes(created) == []  # Xero's history records the creation itself:
    assert [h.changes for h in created.history] == ["Created"]
    notes = [j for j in env.jobs() if j.kind == JobKind.CONTACT_NOTE]
    assert [j.object_id for j in notes] != [created_id] and len(notes) == 1
    [note] = portal_notes(env.xero_contact(linked))
    assert "Linked to portal customer Stark Offices" in note
    assert all(j.status == JobStatus.DONE for j in env.jobs())


def test_a_contact_update_adds_a_history_note(env):
    customer_id = env.add_customer(name="Pied Piper")
    env.issue(customer_id)
    env.worker().drain()
    env.edit_customer(customer_id, name="Pied Piper Inc")
    env.worker().drain()

    [contact] = env.xero_contacts()
    notes = portal_notes(contact)
    assert len(notes) == 1  # the update's; the creation is in Xero's own history
    assert "set from portal customer Pied Piper Inc" in notes[0]


def test_a_contact_carrying_the_code_the_portal_assigns_is_linked_and_the_code_kept(env):
    # E.g. created by an attempt whose answer was lost before the code was written back.
    customer_id = env.add_customer(name="Soylent Desks")
    existing = env.add_xero_contact("Soylent Desks", contact_number=f"CUST-{customer_id:05d}")
    invoice_id = env.issue(customer_id)

    env.worker().drain()

    assert contact_of_invoice(env, invoice_id).contact_id == existing
    assert len(env.xero_contacts()) == 1
    customer = env.customer(customer_id)
    assert customer.ledger_code == f"CUST-{customer_id:05d}"
    assert invoice_job(env, invoice_id).status == JobStatus.DONE


def test_a_contact_created_elsewhere_between_look_up_and_create_is_linked(env, monkeypatch):
    """Another worker creates the contact after this one looked and found nothing: Xero
    refuses the name as taken, the portal looks again and links instead of giving up."""
    customer_id = env.add_customer(name="Tyrell Studios", ledger_code="TYR")
    invoice_id = env.issue(customer_id)
    real_lookup = contacts._lookup
    looks = []

    def lookup_racing_another_worker(api, customers, **options):
        looks.append([c.name for c in customers])
        if len(looks) == 1:
            found = real_lookup(api, customers, **options)  # nothing yet...
            env.add_xero_contact("Tyrell Studios", contact_number="TYR")  # ...then the other
            return found
        return real_lookup(api, customers, **options)

    monkeypatch.setattr(contacts, "_lookup", lookup_racing_another_worker)
    env.worker().drain()

    assert looks == [["Tyrell Studios"], ["Tyrell Studios"]]
    [contact] = env.xero_contacts()
    assert contact_of_invoice(env, invoice_id) is contact
    assert env.customer(customer_id).xero_contact_id.lower() == contact.contact_id.lower()
    assert invoice_job(env, invoice_id).status == JobStatus.DONE
