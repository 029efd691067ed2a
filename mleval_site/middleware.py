"""Page-wide answers to exceptions that are the request's situation, not a server fault."""

from django.core.exceptions import ObjectNotUpdated
from django.http import Http404
from django.views.defaults import page_not_found

DELETED_MEANWHILE = "It was deleted while you were changing it: nothing was saved."


class DeletedMeanwhileMiddleware:
    """A save of a row someone deleted meanwhile (`Model.NotUpdated`, see
    mleval_site.db.UpdateNeverInserts) is a 404 on the pages and the admin, not a 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ObjectNotUpdated):
            return page_not_found(request, Http404(DELETED_MEANWHILE))
        return None
