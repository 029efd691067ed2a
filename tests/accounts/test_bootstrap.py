"""`manage.py bootstrap` (the first `make run`): one admin, its password printed once, the URL
the server really listens on (PORT=8001 make run passes --url)."""

from io import StringIO

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command


def test_first_start_prints_the_admin_login_and_the_served_url_once(db):
    out = StringIO()
    call_command("bootstrap", url="http://127.0.0.1:8001/", stdout=out)
    text = out.getvalue()
    password = text.split("password: ")[1].split()[0]
    assert authenticate(username="admin", password=password) is not None
    assert "http://127.0.0.1:8001/" in text and "8000" not in text.split("password: ")[1]
    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert again.getvalue() == "" and User.objects.count() == 1
