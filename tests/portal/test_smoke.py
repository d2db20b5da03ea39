def test_admin_home(admin_client):
    r = admin_client.get("/admin/")
    assert r.status_code == 200
    assert b"Overview" in r.data


def test_member_home(member_client):
    r = member_client.get("/")
    assert r.status_code == 200
