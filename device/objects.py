"""The object groups a caption names, for the device's grounding and answers (and, host-side, for
CHAIR in evaluation/chair.py: the same groups on both sides, so the check measures what is said).

Groups are the COCO categories (people as one group), each with its common synonyms. Plurals are
derived. Two-word names are matched first, so "hot dog" is food and never a dog."""

from __future__ import annotations

from typing import Sequence

from .vocab import tokenize

GROUPS: dict[str, tuple[str, ...]] = {
    "person": (
        "person",
        "people",
        "man",
        "men",
        "woman",
        "women",
        "boy",
        "girl",
        "child",
        "children",
        "kid",
        "baby",
        "toddler",
        "player",
        "guy",
        "lady",
        "ladies",
        "adult",
        "teenager",
        "teen",
        "skier",
        "snowboarder",
        "surfer",
        "skateboarder",
        "biker",
        "cyclist",
        "bicyclist",
        "rider",
        "swimmer",
        "climber",
        "runner",
        "dancer",
        "hiker",
        "crowd",
        "couple",
        "mother",
        "father",
        "son",
        "daughter",
        "brother",
        "sister",
        "gentleman",
        "policeman",
        "officer",
        "soldier",
        "worker",
        "tourist",
        "spectator",
        "athlete",
        "wrestler",
        "boxer",
        "footballer",
        "goalie",
        "cowboy",
        "bride",
        "groom",
        "someone",
        "male",
        "female",
        "individual",
        "youth",
        "infant",
        "toddler",
        "skater",
        "performer",
        "musician",
        "chef",
        "cook",
        "student",
        "audience",
        "pedestrian",
        "jockey",
    ),
    "bicycle": ("bicycle", "bike", "tricycle", "unicycle"),
    "car": ("car", "automobile", "taxi", "cab", "jeep", "van", "minivan", "suv", "sedan", "limo", "limousine"),
    "motorcycle": ("motorcycle", "motorbike", "motor bike", "scooter", "moped", "dirt bike"),
    "airplane": ("airplane", "plane", "jet", "aircraft", "airliner", "aeroplane"),
    "bus": ("bus", "buses"),
    "train": ("train", "locomotive", "tram", "trolley", "subway"),
    "truck": ("truck", "lorry", "pickup truck", "tractor"),
    "boat": ("boat", "ship", "canoe", "kayak", "sailboat", "raft", "yacht", "ferry", "rowboat", "speedboat"),
    "traffic light": ("traffic light", "traffic signal", "stoplight"),
    "fire hydrant": ("fire hydrant", "hydrant"),
    "stop sign": ("stop sign",),
    "parking meter": ("parking meter",),
    "bench": ("bench",),
    "bird": (
        "bird",
        "duck",
        "goose",
        "geese",
        "seagull",
        "gull",
        "pigeon",
        "parrot",
        "eagle",
        "owl",
        "chicken",
        "hen",
        "rooster",
        "swan",
        "penguin",
        "crow",
        "pelican",
        "flamingo",
        "heron",
        "sparrow",
    ),
    "cat": ("cat", "kitten", "kitty"),
    "dog": (
        "dog",
        "puppy",
        "pup",
        "doggy",
        "poodle",
        "terrier",
        "retriever",
        "collie",
        "labrador",
        "dalmatian",
        "greyhound",
        "beagle",
        "pug",
        "husky",
        "dachshund",
        "chihuahua",
        "spaniel",
        "sheepdog",
        "rottweiler",
        "pitbull",
        "schnauzer",
        "boxer dog",
        "mutt",
        "hound",
    ),
    "horse": ("horse", "pony", "foal", "colt", "stallion", "mare"),
    "sheep": ("sheep", "lamb"),
    "cow": ("cow", "cattle", "bull", "calf", "calves", "ox", "oxen", "steer", "buffalo"),
    "elephant": ("elephant",),
    "bear": ("bear",),
    "zebra": ("zebra",),
    "giraffe": ("giraffe",),
    "backpack": ("backpack", "rucksack"),
    "umbrella": ("umbrella", "parasol"),
    "handbag": ("handbag", "purse"),
    "suitcase": ("suitcase", "luggage"),
    "frisbee": ("frisbee",),
    "skis": ("ski", "skis"),
    "snowboard": ("snowboard",),
    "sports ball": (
        "ball",
        "football",
        "soccer ball",
        "basketball",
        "baseball",
        "volleyball",
        "tennis ball",
        "beach ball",
        "softball",
        "rugby ball",
    ),
    "kite": ("kite",),
    "baseball bat": ("baseball bat", "bat"),
    "baseball glove": ("baseball glove", "mitt"),
    "skateboard": ("skateboard",),
    "surfboard": ("surfboard", "surf board"),
    "tennis racket": ("tennis racket", "racket", "racquet"),
    "bottle": ("bottle",),
    "wine glass": ("wine glass", "wineglass"),
    "cup": ("cup", "mug"),
    "fork": ("fork",),
    "knife": ("knife", "knives"),
    "spoon": ("spoon",),
    "bowl": ("bowl",),
    "banana": ("banana",),
    "apple": ("apple",),
    "sandwich": ("sandwich", "burger", "hamburger", "sub"),
    "broccoli": ("broccoli",),
    "carrot": ("carrot",),
    "hot dog": ("hot dog", "hotdog"),
    "pizza": ("pizza",),
    "donut": ("donut", "doughnut"),
    "cake": ("cake", "cupcake"),
    "chair": ("chair", "stool"),
    "couch": ("couch", "sofa"),
    "potted plant": ("potted plant", "houseplant", "plant"),
    "bed": ("bed",),
    "dining table": ("dining table", "table", "desk"),
    "toilet": ("toilet",),
    "tv": ("tv", "television", "monitor"),
    "laptop": ("laptop", "computer", "notebook"),
    "mouse": ("computer mouse", "mouse", "mice"),
    "remote": ("remote", "controller"),
    "keyboard": ("keyboard",),
    "cell phone": ("cell phone", "phone", "cellphone", "smartphone"),
    "microwave": ("microwave",),
    "oven": ("oven", "stove"),
    "toaster": ("toaster",),
    "sink": ("sink",),
    "refrigerator": ("refrigerator", "fridge"),
    "book": ("book",),
    "clock": ("clock",),
    "vase": ("vase",),
    "scissors": ("scissors",),
    "teddy bear": ("teddy bear", "teddy"),
    "hair drier": ("hair drier", "hair dryer", "blow dryer"),
    "toothbrush": ("toothbrush",),
}

_IRREGULAR = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "person": "people",
    "mouse": "mice",
    "knife": "knives",
    "goose": "geese",
    "ox": "oxen",
    "calf": "calves",
    "lady": "ladies",
    "sheep": "sheep",
    "fish": "fish",
    "bus": "buses",
    "couch": "couches",
    "sandwich": "sandwiches",
    "bench": "benches",
    "glass": "glasses",
    "puppy": "puppies",
    "baby": "babies",
    "pony": "ponies",
    "kitty": "kitties",
    "sub": "subs",
    "teddy": "teddies",
    "bull": "bulls",
}


def _plural(name: str) -> str:
    *head, last = name.split()
    if last in _IRREGULAR:
        return " ".join([*head, _IRREGULAR[last]])
    if last.endswith(("s", "x", "ch", "sh")):
        return " ".join([*head, last + "es"])
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return " ".join([*head, last[:-1] + "ies"])
    return " ".join([*head, last + "s"])


def _lexicon() -> tuple[dict[tuple[str, ...], str], int]:
    lex: dict[tuple[str, ...], str] = {}
    for group, names in GROUPS.items():
        for n in names:
            for form in (n, _plural(n)):
                lex.setdefault(tuple(form.split()), group)
    return lex, max(len(k) for k in lex)


_LEX, _LONGEST = _lexicon()


def single_words() -> dict[str, list[str]]:
    """Group -> its one-word names and their plurals (what a per-word penalty can act on)."""
    out: dict[str, list[str]] = {}
    for key, g in _LEX.items():
        if len(key) == 1:
            out.setdefault(g, []).append(key[0])
    return out


def mentions(caption: str | Sequence[str]) -> list[str]:
    """The object groups a caption names, in order, one entry per mention (longest name first)."""
    words = tokenize(caption) if isinstance(caption, str) else list(caption)
    out, i = [], 0
    while i < len(words):
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            g = _LEX.get(tuple(words[i : i + n]))
            if g is not None:
                out.append(g)
                i += n
                break
        else:
            i += 1
    return out
