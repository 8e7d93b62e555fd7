import numpy as np

from device.search import beam_search, greedy, log_softmax
from device.vocab import Vocabulary, tokenize


def test_tokenize_lowercases_and_strips_punctuation():
    assert tokenize("A black-and-white Dog's ball, in the park.") == [
        "a",
        "black",
        "and",
        "white",
        "dog's",
        "ball",
        "in",
        "the",
        "park",
    ]


def test_vocabulary_min_count_specials_and_roundtrip(tmp_path):
    v = Vocabulary.build(["a dog runs", "a dog sits", "a cat"], min_count=2)
    assert v.words[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert set(v.words[4:]) == {"a", "dog"}
    ids = v.encode("A dog flies")
    assert ids[0] == v.start_id and ids[-1] == v.end_id and ids[3] == v.unk_id
    assert v.decode(ids) == "a dog <unk>"
    v.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").words == v.words


class TableStep:
    """A decoder whose next-word distribution depends only on the previous word (a bigram table)."""

    def __init__(self, table):
        with np.errstate(divide="ignore"):
            self.table = np.log(np.asarray(table, np.float32))  # impossible words: -inf
        self.calls = []

    def __call__(self, tokens, state):
        self.calls.append(len(tokens))
        n = len(tokens)
        return self.table[tokens], {"h": state["h"] + 1}, np.full((n, 4), 0.25, np.float32)


# ids: 0 pad, 1 start, 2 end, 3 unk, 4 "a", 5 "b", 6 "c"
def _table():
    t = np.zeros((7, 7))
    t[1] = [0, 0, 0, 0, 0.55, 0.45, 0]  # start -> a (greedy) or b
    t[4] = [0, 0, 0.3, 0, 0.35, 0.35, 0]  # a -> spread out: poor continuation
    t[5] = [0, 0, 1.0, 0, 0, 0, 0]  # b -> end with certainty
    t[6] = [0, 0, 1.0, 0, 0, 0, 0]
    return t


def test_greedy_takes_the_most_probable_word():
    r = greedy(TableStep(_table()), {"h": np.zeros((1, 2))}, 1, 2, max_len=5)
    assert r.tokens[0] == 4


def test_beam_finds_the_better_sequence_and_batches_beams():
    step = TableStep(_table())
    r = beam_search(step, {"h": np.zeros((1, 2))}, 1, 2, beam=3, max_len=5)
    assert r.finished and r.tokens == [5]  # p(b, end) = 0.45 beats any continuation of a
    assert set(step.calls) == {3}  # always batched 3 wide
    assert r.attention.shape == (1, 4)
    assert len(r.token_logprobs) == 2


def test_beam_without_any_ending_returns_best_unfinished():
    t = np.zeros((7, 7))
    t[:, 4] = 0.6
    t[:, 5] = 0.4  # <end> never possible
    r = beam_search(TableStep(t), {"h": np.zeros((1, 2))}, 1, 2, beam=2, max_len=4)
    assert not r.finished and r.tokens == [4, 4, 4, 4]
    assert r.attention.shape == (4, 4)


def test_log_softmax_normalises():
    x = np.array([[1.0, 2.0, 3.0]])
    assert np.isclose(np.exp(log_softmax(x)).sum(), 1.0)


def test_top_is_argsort_of_finite_values():
    from device.search import _top

    rng = np.random.default_rng(1)
    for _ in range(50):
        x = rng.standard_normal(40).astype(np.float32)
        x[rng.random(40) < 0.3] = -np.inf
        want = [i for i in np.argsort(-x, kind="stable") if np.isfinite(x[i])][:6]
        assert list(_top(x, 6)) == want
    assert _top(np.full(5, -np.inf, np.float32), 3).size == 0


def test_requantize_passes_equal_grids_through_and_maps_codes_to_the_other_grid_by_hand():
    from device.quant import requantize

    codes = np.arange(-128, 128, dtype=np.int8)
    assert requantize(codes, (0.1, 3, "int8"), (0.1, 3, "int8")) is codes  # the state hand-over: bit for bit
    # real = 0.1 * (q - 3); on (0.5, 127, uint8): round(real / 0.5) + 127, clipped to 0..255 (worked by hand)
    q = np.array([-128, -2, 3, 8, 13, 127], np.int8)
    got = requantize(q, (0.1, 3, "int8"), (0.5, 127, "uint8"))
    assert got.dtype == np.uint8 and got.tolist() == [101, 126, 127, 128, 129, 152]
    # int8 -> int8 with clipping: real = 0.25 * (q + 1); on (0.05, 0): round(5 * (q + 1)), clipped to -128..127
    got = requantize(np.array([-1, 0, 3, 30, -100], np.int8), (0.25, -1, "int8"), (0.05, 0, "int8"))
    assert got.tolist() == [0, 5, 20, 127, -128]
    # to float: the real values themselves
    got = requantize(np.array([-7, 0, 10], np.int8), (0.08, -7, "int8"), (0.0, 0, "float32"))
    assert got.dtype == np.float32 and np.allclose(got, [0.0, 0.56, 1.36])
    # from float: plain quantisation (numpy rounds halves to even: 0.5 -> 0)
    x = np.array([-3.0, -0.05, 0.05, 0.15, 3.0], np.float32)
    assert requantize(x, (0.0, 0, "float32"), (0.1, 0, "int8")).tolist() == [-30, 0, 0, 2, 30]
