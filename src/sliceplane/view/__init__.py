"""``sliceplane view``: a live web page of Services, their EndpointSlices and endpoints.

During an incident people would rather look than read YAML. The view answers at a glance
which pods back a Service, which slice holds them, which are ready, serving or terminating,
in which zone, and what the doctor finds wrong.

Shape (``docs/view.md``):

* :mod:`.model` turns API objects into small view records, and :mod:`.render` turns those
  into HTML fragments: both pure, table-tested;
* :mod:`.health` is the seam to the doctor's checks (badges and findings);
* :mod:`.state` reads the shared informers' stores (never the API directly) and assembles
  a page's fragments;
* :mod:`.stream` keeps one server-sent-event stream per open page, fed by informer
  handlers, and sends only the fragments whose HTML changed;
* :mod:`.server` is the aiohttp glue. The view never writes to the API.
"""
