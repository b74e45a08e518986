"""gunicorn settings for `trellis serve` with TRELLIS_LOG_FORMAT=json (gunicorn_argv passes this module)."""
from app.logging_setup import GUNICORN_JSON_LOGCONFIG

logconfig_dict = GUNICORN_JSON_LOGCONFIG
loglevel = "info"
accesslog = None
