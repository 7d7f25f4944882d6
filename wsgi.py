"""WSGI entry point: `gunicorn wsgi:app`."""

from helpdesk import create_app
from helpdesk.core import logs

app = create_app()
logs.configure(str(app.config["HELPDESK"]["HELPDESK_LOG_FORMAT"]))  # one line per event on stderr
