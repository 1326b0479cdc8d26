"""
WSGI config for pipeline_crm project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeline_crm.settings")

application = get_wsgi_application()

# Everything loaded so far lives as long as the process: kept out of the garbage
# collector's full passes, which otherwise walk it again every few hundred requests.
gc.freeze()
