"""The RQ worker class: jobs travel as JSON, never pickle (see settings.RQ_QUEUES).

django-rq's ``rqworker`` passes its own default serializer (pickle) unless told
otherwise, so the worker class insists on JSON whatever it is handed.
"""

from typing import Any

from rq import Worker
from rq.serializers import JSONSerializer


class JSONWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)
