"""The built-in English lexicon: nouns with semantic classes and animacy, verbs with selectional restrictions.

Everything here is plain data (tuples and dicts) so that the grammar can index it quickly.  Each noun
belongs to one semantic class; each class is either animate (can be an agent) or not, and belongs to at
most one *topic*.  Topic-less classes (ordinary people) may appear in any document; every other noun
only appears in documents of its own topic, so the topic of a sentence is decided by its words, never
by their order (that is what makes ``builtin_topic`` an order-free control task).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

TOPICS: tuple[str, ...] = ("animals", "food", "music", "travel", "workshop", "school", "garden")


class NounClass(NamedTuple):
    name: str
    animate: bool
    topic: str | None  # None: usable in every topic
    adjective_groups: tuple[str, ...]
    nouns: tuple[str, ...]


NOUN_CLASSES: tuple[NounClass, ...] = (
    # --- animate: possible agents -------------------------------------------------------------
    NounClass(
        "people",
        True,
        None,
        ("animate", "size"),
        (
            "man",
            "woman",
            "boy",
            "girl",
            "child",
            "friend",
            "neighbour",
            "stranger",
            "king",
            "queen",
            "prince",
            "princess",
            "doctor",
            "nurse",
            "lawyer",
            "judge",
            "soldier",
            "officer",
            "guest",
            "visitor",
        ),
    ),
    NounClass(
        "animals",
        True,
        "animals",
        ("animate", "size", "colour"),
        (
            "dog",
            "cat",
            "horse",
            "cow",
            "sheep",
            "goat",
            "pig",
            "rabbit",
            "mouse",
            "rat",
            "fox",
            "wolf",
            "bear",
            "lion",
            "tiger",
            "elephant",
            "monkey",
            "zebra",
            "giraffe",
            "deer",
            "duck",
            "goose",
            "chicken",
            "owl",
            "eagle",
            "parrot",
            "pigeon",
            "crow",
            "snake",
            "frog",
            "turtle",
            "squirrel",
            "donkey",
            "camel",
            "kitten",
            "puppy",
            "hamster",
            "badger",
            "otter",
            "hedgehog",
        ),
    ),
    NounClass(
        "animal_keepers",
        True,
        "animals",
        ("animate", "size"),
        (
            "farmer",
            "shepherd",
            "vet",
            "zookeeper",
            "hunter",
            "rancher",
            "trainer",
            "breeder",
        ),
    ),
    NounClass(
        "cooks",
        True,
        "food",
        ("animate", "size"),
        (
            "chef",
            "cook",
            "baker",
            "waiter",
            "waitress",
            "butcher",
            "grocer",
            "caterer",
        ),
    ),
    NounClass(
        "musicians",
        True,
        "music",
        ("animate", "size"),
        (
            "musician",
            "singer",
            "drummer",
            "pianist",
            "violinist",
            "guitarist",
            "conductor",
            "composer",
            "trumpeter",
            "cellist",
        ),
    ),
    NounClass(
        "travellers",
        True,
        "travel",
        ("animate", "size"),
        (
            "pilot",
            "driver",
            "sailor",
            "captain",
            "traveller",
            "tourist",
            "passenger",
            "cyclist",
        ),
    ),
    NounClass(
        "craftspeople",
        True,
        "workshop",
        ("animate", "size"),
        (
            "carpenter",
            "mechanic",
            "builder",
            "plumber",
            "painter",
            "welder",
            "electrician",
            "blacksmith",
        ),
    ),
    NounClass(
        "scholars",
        True,
        "school",
        ("animate", "size"),
        (
            "teacher",
            "student",
            "pupil",
            "librarian",
            "writer",
            "professor",
            "poet",
            "scientist",
        ),
    ),
    NounClass(
        "gardeners",
        True,
        "garden",
        ("animate", "size"),
        (
            "gardener",
            "florist",
            "botanist",
            "forester",
            "landscaper",
            "grower",
        ),
    ),
    # --- inanimate ----------------------------------------------------------------------------
    NounClass(
        "foods",
        False,
        "food",
        ("food", "colour"),
        (
            "bread",
            "cake",
            "apple",
            "banana",
            "orange",
            "pear",
            "cherry",
            "grape",
            "lemon",
            "melon",
            "carrot",
            "potato",
            "tomato",
            "onion",
            "pepper",
            "cucumber",
            "cheese",
            "egg",
            "sandwich",
            "pie",
            "soup",
            "salad",
            "pizza",
            "cookie",
            "biscuit",
            "muffin",
            "pancake",
            "sausage",
            "fish",
            "steak",
            "noodle",
            "dumpling",
            "pastry",
            "omelette",
            "burger",
            "peach",
            "plum",
            "mango",
            "pineapple",
            "pudding",
        ),
    ),
    NounClass(
        "utensils",
        False,
        "food",
        ("physical", "colour"),
        (
            "knife",
            "spoon",
            "fork",
            "pan",
            "pot",
            "ladle",
            "whisk",
            "kettle",
            "bowl",
            "plate",
            "cup",
            "jug",
            "tray",
            "grater",
        ),
    ),
    NounClass(
        "kitchens",
        False,
        "food",
        ("place",),
        (
            "kitchen",
            "restaurant",
            "bakery",
            "cafe",
            "market",
            "canteen",
            "diner",
            "pantry",
        ),
    ),
    NounClass(
        "instruments",
        False,
        "music",
        ("physical", "colour"),
        (
            "piano",
            "violin",
            "guitar",
            "drum",
            "flute",
            "trumpet",
            "cello",
            "harp",
            "clarinet",
            "saxophone",
            "trombone",
            "banjo",
            "harmonica",
            "tuba",
            "ukulele",
            "accordion",
            "oboe",
            "xylophone",
            "tambourine",
            "bass",
        ),
    ),
    NounClass(
        "songs",
        False,
        "music",
        ("tune",),
        (
            "song",
            "melody",
            "tune",
            "symphony",
            "ballad",
            "anthem",
            "lullaby",
            "chorus",
            "concerto",
            "waltz",
        ),
    ),
    NounClass(
        "venues",
        False,
        "music",
        ("place",),
        (
            "concert",
            "studio",
            "theatre",
            "stage",
            "hall",
            "opera",
            "festival",
            "club",
        ),
    ),
    NounClass(
        "vehicles",
        False,
        "travel",
        ("physical", "colour"),
        (
            "car",
            "bus",
            "train",
            "truck",
            "bicycle",
            "motorbike",
            "boat",
            "ship",
            "plane",
            "taxi",
            "tram",
            "van",
            "tractor",
            "scooter",
            "helicopter",
            "ferry",
            "yacht",
            "canoe",
            "wagon",
            "jeep",
        ),
    ),
    NounClass(
        "luggage",
        False,
        "travel",
        ("physical", "colour"),
        (
            "suitcase",
            "ticket",
            "passport",
            "map",
            "backpack",
            "bag",
            "compass",
            "umbrella",
        ),
    ),
    NounClass(
        "stations",
        False,
        "travel",
        ("place",),
        (
            "station",
            "airport",
            "harbour",
            "road",
            "bridge",
            "city",
            "village",
            "tunnel",
            "port",
            "highway",
        ),
    ),
    NounClass(
        "tools",
        False,
        "workshop",
        ("physical", "colour"),
        (
            "hammer",
            "handsaw",
            "drill",
            "wrench",
            "screwdriver",
            "chisel",
            "ladder",
            "shovel",
            "brush",
            "pliers",
            "axe",
            "file",
            "clamp",
            "tape",
            "rope",
            "nail",
        ),
    ),
    NounClass(
        "furniture",
        False,
        "workshop",
        ("physical", "colour"),
        (
            "table",
            "chair",
            "shelf",
            "door",
            "fence",
            "cabinet",
            "bench",
            "desk",
            "stool",
            "window",
            "cupboard",
            "wardrobe",
        ),
    ),
    NounClass(
        "workshops",
        False,
        "workshop",
        ("place",),
        (
            "workshop",
            "garage",
            "factory",
            "shed",
            "yard",
            "basement",
            "warehouse",
            "mill",
        ),
    ),
    NounClass(
        "documents",
        False,
        "school",
        ("physical", "colour"),
        (
            "book",
            "letter",
            "note",
            "poem",
            "story",
            "essay",
            "report",
            "notebook",
            "diary",
            "novel",
            "magazine",
            "newspaper",
            "pen",
            "pencil",
            "dictionary",
            "postcard",
        ),
    ),
    NounClass(
        "schools",
        False,
        "school",
        ("place",),
        (
            "school",
            "library",
            "classroom",
            "university",
            "museum",
            "laboratory",
            "college",
            "office",
        ),
    ),
    NounClass(
        "plants",
        False,
        "garden",
        ("plant", "colour"),
        (
            "rose",
            "tulip",
            "daisy",
            "lily",
            "sunflower",
            "tree",
            "bush",
            "flower",
            "seed",
            "vine",
            "fern",
            "cactus",
            "oak",
            "pine",
            "hedge",
            "orchid",
            "violet",
            "herb",
        ),
    ),
    NounClass(
        "gardens",
        False,
        "garden",
        ("place",),
        (
            "garden",
            "park",
            "greenhouse",
            "orchard",
            "meadow",
            "forest",
            "lawn",
            "field",
        ),
    ),
    NounClass(
        "pet_supplies",
        False,
        "animals",
        ("physical", "colour"),
        (
            "bone",
            "collar",
            "leash",
            "saddle",
            "hay",
            "bucket",
            "cage",
            "kennel",
            "blanket",
            "whistle",
        ),
    ),
    NounClass(
        "farms",
        False,
        "animals",
        ("place",),
        (
            "farm",
            "barn",
            "zoo",
            "stable",
            "river",
            "pond",
            "hill",
            "valley",
        ),
    ),
)

NOUN_CLASS_BY_NAME: dict[str, NounClass] = {c.name: c for c in NOUN_CLASSES}

#: word -> semantic class name (a word belongs to exactly one class; checked at import below)
NOUN_TO_CLASS: dict[str, str] = {}
for _cls in NOUN_CLASSES:
    for _noun in _cls.nouns:
        if _noun in NOUN_TO_CLASS:
            raise AssertionError(f"noun {_noun!r} listed in both {NOUN_TO_CLASS[_noun]} and {_cls.name}")
        NOUN_TO_CLASS[_noun] = _cls.name

ANIMATE_CLASSES: frozenset[str] = frozenset(c.name for c in NOUN_CLASSES if c.animate)
HUMAN_CLASSES: frozenset[str] = ANIMATE_CLASSES - {"animals"}
PLACE_CLASSES: frozenset[str] = frozenset(c.name for c in NOUN_CLASSES if c.adjective_groups == ("place",))

ADJECTIVES: dict[str, tuple[str, ...]] = {
    "animate": (
        "happy",
        "hungry",
        "tired",
        "angry",
        "young",
        "old",
        "brave",
        "clever",
        "sleepy",
        "friendly",
        "lazy",
        "busy",
        "proud",
        "shy",
        "calm",
        "curious",
        "nervous",
        "gentle",
        "cheerful",
        "lonely",
        "famous",
        "quiet",
        "noisy",
        "polite",
    ),
    "size": ("big", "small", "tall", "short", "tiny", "huge", "little", "strong"),
    "colour": (
        "red",
        "blue",
        "green",
        "yellow",
        "white",
        "black",
        "brown",
        "grey",
        "pink",
        "purple",
        "golden",
        "silver",
    ),
    "food": ("fresh", "warm", "sweet", "spicy", "salty", "ripe", "delicious", "crunchy", "cold", "hot"),
    "physical": (
        "heavy",
        "light",
        "new",
        "shiny",
        "broken",
        "clean",
        "dirty",
        "wooden",
        "expensive",
        "cheap",
        "modern",
        "rusty",
        "sturdy",
        "fragile",
        "antique",
    ),
    "plant": ("tall", "young", "wild", "fragrant", "withered", "blooming", "thorny", "lush"),
    "tune": ("beautiful", "sad", "cheerful", "famous", "slow", "lively", "haunting", "ancient"),
    "place": ("busy", "quiet", "old", "new", "crowded", "empty", "dark", "bright", "large", "cosy"),
}

ADVERBS: tuple[str, ...] = (
    "quickly",
    "slowly",
    "quietly",
    "loudly",
    "happily",
    "sadly",
    "carefully",
    "gently",
    "suddenly",
    "eagerly",
    "calmly",
    "proudly",
    "nervously",
    "patiently",
    "angrily",
    "politely",
    "boldly",
    "softly",
    "silently",
    "cheerfully",
    "clumsily",
    "bravely",
    "lazily",
    "briefly",
    "secretly",
    "warmly",
    "rudely",
    "gracefully",
    "reluctantly",
    "steadily",
)

#: determiners with repetition as sampling weight; "a" is realised as "a"/"an" by the next word's sound
DETERMINERS: tuple[str, ...] = ("the",) * 8 + ("a",) * 4 + ("this", "that", "my", "his", "her", "their")
LOCATION_PREPOSITIONS: tuple[str, ...] = (
    "in",
    "at",
    "near",
    "behind",
    "beside",
    "outside",
    "inside",
    "around",
    "across",
    "beyond",
)
INSTRUMENT_PREPOSITION = "with"
OTHER_FUNCTION_WORDS: tuple[str, ...] = ("an", "was", "by", "to", "and", "that", "who", "for", ".", ",")


class Verb(NamedTuple):
    """One verb with its forms and selectional restrictions (sets of noun-class names)."""

    base: str
    past: str
    participle: str
    agents: frozenset[str]
    patients: frozenset[str] = frozenset()  # transitive / ditransitive theme
    instruments: frozenset[str] = frozenset()  # classes allowed in a "with ..." PP


_ANIMATE = ANIMATE_CLASSES
_HUMAN = HUMAN_CLASSES
_ANIMALS = frozenset({"animals"})


def _v(forms: str, agents, patients=(), instruments=()) -> Verb:
    base, past, participle = forms.split()
    return Verb(base, past, participle, frozenset(agents), frozenset(patients), frozenset(instruments))


#: transitive verbs.  Verbs whose patients are animate are *reversible*: swapping agent and patient
#: gives a plausible sentence with a different meaning ("the dog chased the cat" / "the cat chased the dog").
TRANSITIVE_VERBS: tuple[Verb, ...] = (
    # animate patients (reversible)
    _v("chase chased chased", _ANIMATE, _ANIMATE),
    _v("follow followed followed", _ANIMATE, _ANIMATE),
    _v("watch watched watched", _ANIMATE, _ANIMATE),
    _v("see saw seen", _ANIMATE, _ANIMATE),
    _v("help helped helped", _ANIMATE, _ANIMATE),
    _v("push pushed pushed", _ANIMATE, _ANIMATE),
    _v("bite bit bitten", _ANIMALS, _ANIMATE),
    _v("kick kicked kicked", _ANIMATE, _ANIMATE),
    _v("scare scared scared", _ANIMATE, _ANIMATE),
    _v("find found found", _ANIMATE, _ANIMATE),
    _v("hug hugged hugged", _HUMAN, _ANIMATE),
    _v("thank thanked thanked", _HUMAN, _HUMAN),
    _v("call called called", _HUMAN, _ANIMATE),
    _v("greet greeted greeted", _HUMAN, _ANIMATE),
    _v("meet met met", _HUMAN, _HUMAN),
    _v("teach taught taught", _HUMAN, _HUMAN),
    _v("admire admired admired", _HUMAN, _ANIMATE),
    _v("feed fed fed", _HUMAN, _ANIMATE),
    _v("blame blamed blamed", _HUMAN, _HUMAN),
    _v("ignore ignored ignored", _ANIMATE, _ANIMATE),
    _v("attack attacked attacked", _ANIMATE, _ANIMATE),
    _v("rescue rescued rescued", _HUMAN, _ANIMATE),
    _v("visit visited visited", _HUMAN, _HUMAN),
    _v("trust trusted trusted", _HUMAN, _ANIMATE),
    # food
    _v("eat ate eaten", _ANIMATE, {"foods"}, {"utensils"}),
    _v("cook cooked cooked", _HUMAN, {"foods"}, {"utensils"}),
    _v("bake baked baked", _HUMAN, {"foods"}),
    _v("cut cut cut", _HUMAN, {"foods", "plants", "furniture"}, {"utensils", "tools"}),
    _v("taste tasted tasted", _ANIMATE, {"foods"}, {"utensils"}),
    _v("serve served served", _HUMAN, {"foods"}, {"utensils"}),
    _v("wash washed washed", _HUMAN, {"foods", "utensils", "vehicles", "animals"}, {"utensils", "tools"}),
    _v("stir stirred stirred", _HUMAN, {"foods"}, {"utensils"}),
    # music
    _v("play played played", _HUMAN, {"instruments", "songs"}),
    _v("tune tuned tuned", _HUMAN, {"instruments"}, {"tools"}),
    _v("sing sang sung", _HUMAN, {"songs"}),
    _v("hum hummed hummed", _HUMAN, {"songs"}),
    _v("compose composed composed", _HUMAN, {"songs"}, {"instruments"}),
    _v("record recorded recorded", _HUMAN, {"songs"}, {"instruments"}),
    # travel
    _v("drive drove driven", _HUMAN, {"vehicles"}),
    _v("ride rode ridden", _HUMAN, {"vehicles", "animals"}),
    _v("park parked parked", _HUMAN, {"vehicles"}),
    _v("board boarded boarded", _HUMAN, {"vehicles"}),
    _v("pack packed packed", _HUMAN, {"luggage", "foods"}),
    _v("lose lost lost", _HUMAN, {"luggage", "documents", "tools"}),
    # workshop
    _v("build built built", _HUMAN, {"furniture"}, {"tools"}),
    _v("repair repaired repaired", _HUMAN, {"furniture", "vehicles", "instruments", "tools"}, {"tools"}),
    _v("fix fixed fixed", _HUMAN, {"furniture", "vehicles", "instruments"}, {"tools"}),
    _v("paint painted painted", _HUMAN, {"furniture", "vehicles", "animals"}, {"tools"}),
    _v("sand sanded sanded", _HUMAN, {"furniture"}, {"tools"}),
    _v(
        "carry carried carried",
        _HUMAN,
        {"tools", "furniture", "instruments", "luggage", "foods", "documents", "pet_supplies"},
    ),
    _v("borrow borrowed borrowed", _HUMAN, {"tools", "documents", "instruments", "vehicles"}),
    _v("drop dropped dropped", _HUMAN, {"tools", "utensils", "documents", "foods", "luggage", "pet_supplies"}),
    # school
    _v("read read read", _HUMAN, {"documents"}),
    _v("write wrote written", _HUMAN, {"documents", "songs"}, {"documents"}),
    _v("study studied studied", _HUMAN, {"documents", "plants", "animals"}),
    _v("copy copied copied", _HUMAN, {"documents"}, {"documents"}),
    _v("sign signed signed", _HUMAN, {"documents"}, {"documents"}),
    # garden
    _v("plant planted planted", _HUMAN, {"plants"}, {"tools"}),
    _v("water watered watered", _HUMAN, {"plants"}),
    _v("pick picked picked", _HUMAN, {"plants", "foods"}),
    _v("prune pruned pruned", _HUMAN, {"plants"}, {"tools"}),
    _v("grow grew grown", _HUMAN, {"plants", "foods"}),
    _v("trim trimmed trimmed", _HUMAN, {"plants"}, {"tools"}),
)

INTRANSITIVE_VERBS: tuple[Verb, ...] = (
    _v("sleep slept slept", _ANIMATE),
    _v("run ran run", _ANIMATE),
    _v("walk walked walked", _ANIMATE),
    _v("jump jumped jumped", _ANIMATE),
    _v("swim swam swum", _ANIMATE),
    _v("rest rested rested", _ANIMATE),
    _v("wait waited waited", _ANIMATE),
    _v("arrive arrived arrived", _ANIMATE),
    _v("leave left left", _ANIMATE),
    _v("fall fell fallen", _ANIMATE),
    _v("sit sat sat", _ANIMATE),
    _v("hide hid hidden", _ANIMATE),
    _v("play played played", _ANIMATE),
    _v("laugh laughed laughed", _HUMAN),
    _v("smile smiled smiled", _HUMAN),
    _v("cry cried cried", _HUMAN),
    _v("dance danced danced", _HUMAN),
    _v("sing sang sung", _ANIMATE),
    _v("shout shouted shouted", _HUMAN),
    _v("whisper whispered whispered", _HUMAN),
    _v("work worked worked", _HUMAN),
    _v("travel travelled travelled", _HUMAN),
    _v("complain complained complained", _HUMAN),
    _v("growl growled growled", _ANIMALS),
    _v("bark barked barked", _ANIMALS),
)

#: agent gave recipient patient ("the teacher gave the boy a book"); the theme is annotated "patient"
_PORTABLE = {"foods", "utensils", "instruments", "luggage", "tools", "documents", "plants", "pet_supplies"}
DITRANSITIVE_VERBS: tuple[Verb, ...] = (
    _v("give gave given", _HUMAN, _PORTABLE),
    _v("send sent sent", _HUMAN, _PORTABLE),
    _v("hand handed handed", _HUMAN, _PORTABLE),
    _v("show showed shown", _HUMAN, _PORTABLE),
    _v("bring brought brought", _HUMAN, _PORTABLE),
    _v("offer offered offered", _HUMAN, _PORTABLE),
    _v("throw threw thrown", _HUMAN, _PORTABLE),
    _v("sell sold sold", _HUMAN, _PORTABLE),
    _v("lend lent lent", _HUMAN, _PORTABLE),
    _v("pass passed passed", _HUMAN, _PORTABLE),
    _v("buy bought bought", _HUMAN, _PORTABLE),
    _v("promise promised promised", _HUMAN, _PORTABLE),
)


def is_animate(word: str) -> bool:
    """True when ``word`` is a noun of an animate class (a possible agent)."""
    return NOUN_TO_CLASS.get(word) in ANIMATE_CLASSES


def noun_topic(word: str) -> str | None:
    """The topic a noun belongs to (None for topic-free nouns and non-nouns)."""
    cls = NOUN_TO_CLASS.get(word)
    return NOUN_CLASS_BY_NAME[cls].topic if cls else None


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Every distinct word form the grammar can emit."""
    words: set[str] = set(NOUN_TO_CLASS)
    for group in ADJECTIVES.values():
        words.update(group)
    words.update(ADVERBS, DETERMINERS, LOCATION_PREPOSITIONS, OTHER_FUNCTION_WORDS, (INSTRUMENT_PREPOSITION,))
    for verb in TRANSITIVE_VERBS + INTRANSITIVE_VERBS + DITRANSITIVE_VERBS:
        words.update((verb.base, verb.past, verb.participle))
    return frozenset(words)


def _check_no_homographs() -> None:
    """A noun must not also be an emitted verb form, adjective or adverb: the topic of a sentence is read
    off its nouns, and "saw" (tool) vs "saw" (past of see) would silently mislabel it."""
    other: set[str] = set(ADVERBS)
    for group in ADJECTIVES.values():
        other.update(group)
    for verb in TRANSITIVE_VERBS + INTRANSITIVE_VERBS + DITRANSITIVE_VERBS:
        other.update((verb.past, verb.participle))
    clashes = sorted(other & set(NOUN_TO_CLASS))
    if clashes:
        raise AssertionError(f"nouns that are also verb forms/adjectives/adverbs: {clashes}")


_check_no_homographs()
