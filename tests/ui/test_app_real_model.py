"""The app driving the real embedded model (SmolLM2-135M) through the same keys a person uses."""

from __future__ import annotations

import pytest
from loomtests.ui import screen_text, wait_idle

from loomtui.backends.base import GenerationSettings
from loomtui.core.tree import Session
from loomtui.ui.app import make_app
from loomtui.ui.widgets.topk import TopKMenu

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def real_backend(smollm_gguf):
    try:
        from loomtui.backends.local import LocalBackend
        from loomtui.config import cache_dir

        backend = LocalBackend.load("default", cache_dir=cache_dir())
    except Exception as exc:  # the model is a colleague's module; skip if it cannot load
        pytest.skip(f"embedded model cannot load: {exc}")
    yield backend
    backend.close()


async def test_generate_and_pick_with_real_model(real_backend, tmp_path):
    path = tmp_path / "real.json"
    app = make_app(
        session=Session.new("The capital of France is"),
        path=path,
        backend=real_backend,
        new_session=False,
    )
    app.settings = GenerationSettings(max_tokens=3, temperature=0.0, logprobs_k=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+g")
        await wait_idle(app, pilot, timeout=180)
        node = app.session.current
        assert node.model == real_backend.info().name
        assert len(node.tokens) == 3 and node.error is None
        for tok in node.tokens:
            assert tok.logprob is not None and tok.logprob <= 0
            assert len(tok.top) == 5 and tok.rank() == 1  # greedy picks the top token
        shown = screen_text(app)
        assert "The capital of France is" in shown
        assert "SmolLM2" in shown and "done: 3 tok" in shown
        # The top-k menu at the first generated token, and a pick that branches.
        await pilot.press("left", "left")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, TopKMenu)
        app.auto_continue = False
        await pilot.press("2")
        await wait_idle(app, pilot, timeout=60)
        second = node.tokens[0].top[1] if node.tokens else None
        leaves = [app.session.branch_text(n.id) for n in app.session.leaves()]
        assert len(leaves) == 2
        assert path.exists()
        assert second is None or any(text.endswith(second.text) for text in leaves)
