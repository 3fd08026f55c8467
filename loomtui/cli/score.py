"""``loomtui score``: every token of a text with its logprob, entropy and top-k.

The text is teacher-forced after a prefix (the tokenizer's BOS, or the document separator
``<|endoftext|>``; ``prefix_token_ids`` in the JSON says which). The first token has a
logprob only when there is such a prefix. The tokens' bytes rebuild the text exactly.
"""

from __future__ import annotations

import click

from ..core.display import safe_line
from ..core.errors import LoomError
from ..core.metrics import joint_logprob, perplexity
from .common import backend_from_args, model_options
from .generate import print_tokens, read_text
from .params import Args
from .verbstore import VerbOutput

PARAMS: list[click.Parameter] = [
    *model_options(),
    click.Option(["--text"], metavar="TEXT", default=None, help="the text to score"),
    click.Option(
        ["--file"],
        metavar="F",
        default=None,
        help="read the text from a file (- = stdin), bytes kept",
    ),
    click.Option(
        ["--top-k"], type=int, default=20, metavar="K", help="alternatives per token (default 20)"
    ),
    click.Option(
        ["-o", "--output"],
        metavar="SESSION",
        default=None,
        help="add the scored text to this session file (created if needed; one undo step)",
    ),
    click.Option(["--json"], is_flag=True, help="print one JSON object"),
]
ONE_OF = [("text", "file")]


def run(args: Args) -> int:
    text = read_text(args.text, args.file, "text")
    if args.top_k < 0:
        raise LoomError("--top-k must be 0 or more")
    if args.output is None:
        return _score(args, text, None)
    # The output is opened (and locked) before the model works, and written through the
    # store: the scored text is an undo step in its history, as in the app.
    with VerbOutput(args.output) as out:
        return _score(args, text, out)


def _score(args: Args, text: str, out: VerbOutput | None) -> int:
    from .jsonout import dumps, score_json

    backend = backend_from_args(args)
    info = backend.info()
    result = backend.score(text, top_k=args.top_k)
    if result.note and not result.tokens:
        raise LoomError(result.note)
    if out is not None:
        engine = out.engine(None)
        session = engine.session
        engine.add(
            session.root_id,
            tokens=result.tokens,
            origin="prompt",
            model=info.name,
            backend=info.backend,
            settings={
                "scored": True,
                "prefix_token_ids": list(result.prefix_token_ids),
                "logprobs_k": args.top_k,
            },
        )
    if args.json:
        print(
            dumps(
                score_json(
                    model=info.name,
                    prefix_token_ids=result.prefix_token_ids,
                    tokens=result.tokens,
                    vocab_size=info.vocab_size,
                )
            )
        )
        return 0
    print_tokens(result.tokens)
    ppl = perplexity(t.logprob for t in result.tokens)
    if ppl is not None:
        total = joint_logprob(t.logprob for t in result.tokens)
        # Without a prefix the first token has no logprob, so the text's total is unknown.
        total_text = "n/a" if total is None else f"{total:.3f} nats"
        print(f"{len(result.tokens)} tokens, total logprob {total_text}, perplexity {ppl:.2f}")
    if result.note:
        print(f"note: {safe_line(result.note)}")
    return 0
