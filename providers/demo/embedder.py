"""The demo channel's embedding model: WordLlama's ``l2_supercat`` static token embeddings
(256 dimensions, a 32k-token vocabulary), whose weights and tokenizer ship inside the
``wordllama`` package. Nothing is downloaded: the files are opened from the installed
package, and the package's own loader (which looks for the tokenizer in the wrong folder
and then fetches it from the network) is never called.

A text is tokenized, its token vectors averaged and the mean scaled to unit length (how
WordLlama embeds). ``dimensions`` below 256 keeps the leading components and scales again
(the model is trained to be truncated so). Token arrays are averaged the same way, ids
outside the vocabulary refused. Loaded once per process on first use (about a second).
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # imported when the model is first loaded: a chat-only worker never pays for numpy
    import numpy as np
    import numpy.typing as npt
    from tokenizers import Tokenizer

DIMENSIONS = 256
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


class Embedder(NamedTuple):
    tokenizer: Tokenizer
    table: npt.NDArray[np.float16]  # vocabulary x 256

    def embed(self, inputs: list[str | list[int]], dimensions: int | None) -> tuple[list[list[float]], int]:
        """Unit vectors for each input, and the tokens read."""
        import numpy as np

        texts = [item for item in inputs if isinstance(item, str)]
        encoded = iter(self.tokenizer.encode_batch(texts, add_special_tokens=False) if texts else [])
        size = min(dimensions or DIMENSIONS, DIMENSIONS)
        vectors: list[list[float]] = []
        tokens = 0
        for item in inputs:
            ids = next(encoded).ids if isinstance(item, str) else item
            if any(not 0 <= i < len(self.table) for i in ids):
                raise ValueError(f"token ids must be below {len(self.table)}")
            tokens += len(ids)
            if not ids:
                vectors.append([0.0] * size)
                continue
            mean = self.table[ids].astype(np.float32).mean(axis=0)[:size]
            norm = float(np.linalg.norm(mean))
            vectors.append((mean / norm if norm else mean).tolist())
        return vectors, tokens


@functools.cache  # the one loaded model of the process: read-only once built
def load_embedder() -> Embedder:
    import numpy as np
    from safetensors import safe_open
    from tokenizers import Tokenizer

    root = files("wordllama")
    tokenizer = Tokenizer.from_file(str(root.joinpath(*_TOKENIZER)))
    with safe_open(str(root.joinpath(*_WEIGHTS)), framework="np", device="cpu") as weights:
        table = weights.get_tensor("embedding.weight")
    return Embedder(tokenizer, np.ascontiguousarray(table, dtype=np.float16))
