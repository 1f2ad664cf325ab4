"""Generate the sample EHR corpus of this project in CoNLL format.

The corpus is synthetic, written for nerkit (no text comes from any data set):
short admission notes built from hand-written term lists and sentence
templates, with a fixed seed, so running the script again reproduces the
committed files byte for byte::

    python projects/ehr_conll/make_corpus.py              # rewrite corpus/ in place
    python projects/ehr_conll/make_corpus.py --out /tmp/e # write elsewhere

Format: one character and its BIO tag per line (``高 B-疾病和诊断``), a blank
line after each record, a ``# id = note-0007`` line before it. The six label
names are Chinese, in the style of clinical EHR corpora, and none of them is
a CMeEE type: 疾病和诊断, 解剖部位, 手术, 药物, 影像检查, 实验室检验. The entities
do not nest (a CoNLL file holds one tag layer). Some notes are long (over 300
characters), so that a model with 128 positions reads them in several windows.
Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Dict, List, Tuple

SEED = 20261201
N_TRAIN, N_DEV, N_TEST = 240, 60, 40
LONG_EVERY = 12  # every 12th note is a long one (20-30 sentences)

# Terms per label (written for this sample; the characters are those of the
# quickstart tiny BERT's vocabulary).
TERMS: Dict[str, List[str]] = {
    "疾病和诊断": "社区获得性肺炎 支气管哮喘 急性阑尾炎 胃溃疡 肝硬化 胆囊结石 冠心病 高血压病 心力衰竭 2型糖尿病 痛风 肾病综合征 缺铁性贫血 脑梗死 癫痫 类风湿关节炎".split(),
    "解剖部位": "双肺 右肺下叶 胃 十二指肠 结肠 阑尾 肝脏 胆囊 胰腺 冠状动脉 心脏 左心室 甲状腺 肾脏 膀胱 骨髓 脑 腰椎".split(),
    "手术": "阑尾切除术 腹腔镜胆囊切除术 肝移植 经皮冠状动脉介入治疗 关节置换术 造血干细胞移植 肾穿刺活检 骨髓穿刺".split(),
    "药物": "阿莫西林 头孢曲松 阿奇霉素 奥美拉唑 恩替卡韦 阿司匹林 氯吡格雷 阿托伐他汀 二甲双胍 胰岛素 别嘌醇 泼尼松 硫酸亚铁 丙戊酸钠 甲氨蝶呤".split(),
    "影像检查": "胸部CT 腹部B超 腹部CT 头颅MRI 头颅CT 超声心动图 X线检查 甲状腺B超 冠状动脉造影".split(),
    "实验室检验": "C反应蛋白 降钙素原 白细胞计数 血红蛋白 血钾 谷丙转氨酶 总胆红素 肌钙蛋白I 脑钠肽 血肌酐 空腹血糖 糖化血红蛋白 血尿酸 尿常规 血小板计数".split(),
}
LABELS = tuple(TERMS)

# Sentence templates: {label} slots are filled with a term of that label.
TEMPLATES: List[str] = [
    "患者因{疾病和诊断}入院。",
    "既往有{疾病和诊断}病史，长期口服{药物}。",
    "查体：{解剖部位}未见明显异常。",
    "{影像检查}示{解剖部位}病变。",
    "化验{实验室检验}升高，{实验室检验}正常。",
    "入院后行{手术}，术后恢复好。",
    "给予{药物}及{药物}治疗。",
    "诊断为{疾病和诊断}，{解剖部位}受累。",
    "复查{影像检查}，{解剖部位}未见异常。",
    "出院带药：{药物}。",
    "{实验室检验}明显降低，予{药物}对症治疗。",
    "为进一步诊治，拟行{手术}。",
]


def fill(template: str, rng: random.Random) -> Tuple[str, List[Tuple[int, int, str]]]:
    """A sentence and its entities (start, end inclusive, label) from a template."""
    text, entities = "", []
    rest = template
    while "{" in rest:
        before, _, tail = rest.partition("{")
        label, _, rest = tail.partition("}")
        text += before
        term = rng.choice(TERMS[label])
        entities.append((len(text), len(text) + len(term) - 1, label))
        text += term
    return text + rest, entities


def note(rng: random.Random, long: bool) -> Tuple[str, List[Tuple[int, int, str]]]:
    n = rng.randint(20, 30) if long else rng.randint(1, 3)
    text, entities = "", []
    for _ in range(n):
        sentence, ents = fill(rng.choice(TEMPLATES), rng)
        entities += [(s + len(text), e + len(text), lab) for s, e, lab in ents]
        text += sentence
    return text, entities


def conll(notes: List[Tuple[str, str, List[Tuple[int, int, str]]]]) -> str:
    """The CoNLL text of (id, text, entities) notes: a character and a BIO tag per line."""
    out = []
    for doc_id, text, entities in notes:
        tags = ["O"] * len(text)
        for s, e, lab in entities:
            tags[s] = f"B-{lab}"
            for i in range(s + 1, e + 1):
                tags[i] = f"I-{lab}"
        out.append(
            f"# id = {doc_id}\n"
            + "".join(f"{c} {t}\n" for c, t in zip(text, tags, strict=True))
            + "\n"
        )
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "corpus")
    args = parser.parse_args()
    rng = random.Random(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    k = 0
    for split, n in (("train", N_TRAIN), ("dev", N_DEV), ("test", N_TEST)):
        notes = []
        for i in range(n):
            text, entities = note(rng, long=i % LONG_EVERY == LONG_EVERY - 1)
            notes.append((f"note-{k:04d}", text, entities))
            k += 1
        (args.out / f"{split}.conll").write_text(conll(notes), encoding="utf-8")
        print(
            f"{split}: {n} notes, {sum(len(x[2]) for x in notes)} entities -> {args.out / f'{split}.conll'}"
        )


if __name__ == "__main__":
    main()
