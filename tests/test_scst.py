"""Self-critical training's pieces: the CIDEr-D reward equals coco-caption's, and a policy step
raises the log-probability of a caption that beat greedy and lowers one that lost."""

import numpy as np
import pytest

from training.cider_d import CiderD
from training.scst import reference_ids, until_end


def test_cider_d_reward_equals_pycocoevalcap_on_real_captions(scenes):
    """Candidates as a model gives them (vocabulary ids, a rare word as <unk>) against references
    whose rare words keep their identity: the same score as coco-caption's CIDEr-D scorer."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer
    from device.vocab import Vocabulary, tokenize
    from training.data import load_dataset

    samples, _ = load_dataset(scenes)
    vocab = Vocabulary.build([c for s in samples for c in s.captions], min_count=40)  # the rarer words stay out
    oov = {}
    refs = {i: reference_ids(vocab, s.captions[1:], oov) for i, s in enumerate(samples)}
    cands = {i: [vocab.index.get(w, vocab.unk_id) for w in tokenize(s.captions[0])] for i, s in enumerate(samples)}
    assert any(vocab.unk_id in c for c in cands.values())  # the <unk> case is exercised
    ours = np.mean([CiderD(refs).score(i, cands[i]) for i in refs])
    sc = CiderScorer(n=4, sigma=6.0)
    for i, s in enumerate(samples):
        sc += (" ".join(vocab.words[t] for t in cands[i]), [" ".join(tokenize(c)) for c in s.captions[1:]])
    theirs, _ = sc.compute_score()
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_until_end_cuts_at_the_first_end():
    assert until_end(np.array([5, 6, 2, 7, 2]), 2) == [5, 6]
    assert until_end(np.array([5, 6]), 2) == [5, 6]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_policy_step_moves_the_sampled_captions_log_probability_with_its_advantage(sign):
    import keras
    import tensorflow as tf
    from training.config import ModelConfig
    from training.model import build_decoder_step, build_head
    from training.scst import make_policy_step

    keras.utils.set_random_seed(0)
    cfg = ModelConfig(
        image_size=64,
        feature_dim=16,
        attention_dim=16,
        embed_dim=16,
        hidden_dim=16,
        max_len=5,
        vocab_size=12,
        dropout=0.0,
    )
    head, dec = build_head(cfg, 8), build_decoder_step(cfg)
    variables = head.trainable_variables + dec.trainable_variables
    opt = keras.optimizers.SGD(0.5)
    step = make_policy_step(head, dec, cfg, 1, 2, opt, variables, jit=False)
    grids = tf.constant(np.random.default_rng(0).normal(size=(1, 2, 2, 8)).astype(np.float32))
    seqs = tf.constant([[5, 7, 2, 0, 0, 0]], tf.int32)  # one sample: words 5 7 then <end>

    def logp():
        enc = head(grids, training=False)
        state, tok, total = [enc["h"], enc["c"]], tf.constant([1]), 0.0
        for t in range(3):
            out = dec([tok, *state, enc["features"], enc["keys"]], training=False)
            state = [out["h"], out["c"]]
            total += float(tf.nn.log_softmax(out["logits"])[0, seqs[0, t]])
            tok = seqs[:, t]
        return total

    before = logp()
    step(grids, 1, seqs, tf.constant([sign], tf.float32))
    assert (logp() - before) * sign > 0
