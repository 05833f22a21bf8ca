"""WSGI entry point.

The URLconf (and with it every view module, DRF and the apps' APIs) is imported here, when the server loads
the application, instead of on the first request: that import costs ~0.7 s of CPU, which each gunicorn
worker would otherwise spend in its first request (and again in each worker that replaces one after
`max_requests`). With gunicorn's `preload_app` (scripts/gunicorn.conf.py) it is done once, in the master.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.prod")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018  (imports the URLconf now)
# Everything loaded so far stays for the process's life: out of the garbage collector's scans (a full
# collection would otherwise walk the ~180,000 objects of the loaded application again and again). gunicorn
# does it once more in its master before forking (scripts/gunicorn.conf.py); granian loads this module in
# each worker process, so that this is where its workers get it.
gc.freeze()
