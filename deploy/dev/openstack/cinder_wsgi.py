"""WSGI entry point for cinder-api under gunicorn: cinder reads its config files from sys.argv only."""

import os
import sys

sys.argv = ["cinder-api", "--config-file", os.environ["YUNGUAN_CINDER_CONF"]]
from cinder.wsgi.api import application  # noqa: E402,F401
