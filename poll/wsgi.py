"""The WSGI entry for gunicorn: `gunicorn poll.wsgi:app`."""

from poll import create_app

app = create_app()
