from __future__ import annotations

from django.db import models

from clarity.models.flows import Flow


class SourceHash(models.Model):
    """What a full-scan flow last saw of one source record: a hash of its content.

    A full scan reads every record and sends only those whose hash differs, so a
    source with no change marker costs one comparison per record, not a send.
    ``revision`` counts the content changes seen: it is part of the ledger
    version, so content that returns to an earlier state is sent again rather
    than taken for the delivery of that earlier state.
    """

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="source_hashes")
    source_id = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64)
    revision = models.PositiveIntegerField(default=1)
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "source_id"], name="source_hash_one_per_record")
        ]

    def __str__(self) -> str:
        return f"{self.source_id} @ {self.content_hash} (r{self.revision})"
