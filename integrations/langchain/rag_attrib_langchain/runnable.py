"""``with_citations(chain, attributor)``: the chain's output plus a ``citations`` field, as a runnable for LCEL."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs

from .handler import CitationCallbackHandler

if TYPE_CHECKING:
    from pydantic import BaseModel

    from rag_attrib import Attributor

logger = logging.getLogger(__name__)


class CitedRunnable(Runnable[Any, dict[str, Any]]):
    """Runs ``chain`` with a citation handler and adds the run's citations to its output.

    The output is always a dict: a dict output gets a ``key`` entry (``"citations"`` by default); any other
    output (a string, an AIMessage, ...) comes back as ``{"output": <output>, key: ...}``. The citations are
    ``AttributionResult.to_dict()``, or ``{"error": "..."}`` when attribution failed; the chain's own output
    is never changed. Errors raised by the chain itself propagate as usual.
    """

    def __init__(
        self, chain: Runnable, handler: CitationCallbackHandler, *, key: str = "citations",
        token_relevance: bool = False,
    ) -> None:
        self.chain, self.handler, self.key, self.token_relevance = chain, handler, key, token_relevance
        self.name = f"{chain.get_name()}WithCitations"

    @property
    def InputType(self) -> Any:  # LangChain's name
        return self.chain.InputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return self.chain.get_input_schema(config)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    def _invoke(self, input: Any, config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        run_id = uuid4()
        output = self.chain.invoke(input, self._config(config, run_id), **kwargs)
        return self._with_citations(output, run_id)

    async def _ainvoke(self, input: Any, config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        run_id = uuid4()
        output = await self.chain.ainvoke(input, self._config(config, run_id), **kwargs)
        return self._with_citations(output, run_id)

    def _config(self, config: RunnableConfig, run_id: UUID) -> RunnableConfig:
        """The caller's config plus our handler, with a run id we choose so we can find this run's result."""
        return merge_configs(config, {"callbacks": [self.handler], "run_id": run_id})

    def _with_citations(self, output: Any, run_id: UUID) -> dict[str, Any]:
        record = self.handler.pop(run_id)
        citations = (
            record.to_dict(self.token_relevance)
            if record is not None
            else {"error": "no citations were recorded for this run: the chain must hand its config (callbacks, "
                       "run_id) on to its steps, as LCEL runnables do"}
        )
        if not isinstance(output, Mapping):
            return {"output": output, self.key: citations}
        if self.key in output:
            logger.warning("rag_attrib: the chain's output already has a %r entry; it is replaced by the citations "
                           "(pass with_citations(..., key=...) to keep it)", self.key)
        return {**output, self.key: citations}


def with_citations(
    chain: Runnable,
    attributor: Attributor,
    *,
    key: str = "citations",
    token_relevance: bool = False,
) -> CitedRunnable:
    """``chain`` whose output carries the citations of each run (see ``CitedRunnable`` for the output shape).

    ``token_relevance=True`` also returns the relevance of every prompt token (large). The handler is
    ``.handler`` on the result (its ``latest`` holds the last run's full ``AttributionResult``).
    """
    if not isinstance(chain, Runnable):
        raise TypeError(f"chain must be a LangChain Runnable (an LCEL chain), got {type(chain).__name__}")
    return CitedRunnable(chain, CitationCallbackHandler(attributor), key=key, token_relevance=token_relevance)
