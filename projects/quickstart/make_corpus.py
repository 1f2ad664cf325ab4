"""Generate the quickstart sample corpus, word lexicon, word vectors and tiny BERT.

Everything under ``corpus/`` and ``tiny-bert/`` is written by this script from
hand-written term lists and sentence templates, with a fixed seed, so running it
again reproduces the committed files byte for byte::

    python projects/quickstart/make_corpus.py              # rewrite the files in place
    python projects/quickstart/make_corpus.py --out /tmp/q # write elsewhere

Only the Python standard library is used (``random.Random`` draws are stable
across Python versions for a fixed integer seed).

Records follow CMeEE: ``{"text", "entities": [{"start_idx", "end_idx", "type",
"entity"}]}`` with ``end_idx`` inclusive. As in CMeEE only ``sym`` nests other
entities: a symptom built from a body part (``右下腹疼痛`` over ``右下腹``) or a
lab-test item (``白细胞计数升高`` over ``白细胞计数``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

SEED = 20240611
N_TRAIN, N_DEV, N_TEST = 400, 100, 60
LONG_TRAIN, LONG_DEV, LONG_TEST = 16, 5, 4  # records of 150-300 characters
VECTOR_DIM = 16

LABELS = ("dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic")

# --- Topics (written for this sample) -------------------------------------------
# A record draws its terms from one topic, so its sentences hang together: the
# drugs, tests and departments fit the diseases. Fields: terms of a type
# (space-separated), "nsym" = "body:word" pairs forming a nested symptom
# ("右下腹:疼痛" -> sym 右下腹疼痛 over bod 右下腹), "exam" = "body:sign" pairs of
# examination findings ("双肺:湿啰音" -> bod 双肺 ... sym 湿啰音), "prod" / "prot"
# = diagnostic / therapeutic procedures (both type pro).

TOPICS: List[Dict[str, str]] = [
    {  # respiratory
        "dis": "社区获得性肺炎 支气管肺炎 支气管哮喘 慢性阻塞性肺疾病 肺结核",
        "sym": "发热 咳嗽 咳痰 气促 喘息 呼吸困难 咯血",
        "nsym": "胸部:疼痛 胸部:闷痛 口唇:发绀 咽部:充血",
        "exam": "双肺:湿啰音 双肺:哮鸣音 右肺下叶:湿啰音 左肺:干啰音",
        "mic": "肺炎链球菌 肺炎支原体 呼吸道合胞病毒 流感病毒 结核分枝杆菌",
        "dru": "阿莫西林 头孢曲松 阿奇霉素 沙丁胺醇 布地奈德 异烟肼",
        "prod": "胸部CT X线检查 支气管镜检查",
        "prot": "雾化吸入 吸氧 机械通气",
        "ite": "C反应蛋白 CRP 降钙素原 白细胞计数 血氧饱和度",
        "equ": "呼吸机 雾化器 氧气面罩 鼻导管",
        "dep": "呼吸科 儿科 PICU",
        "bod": "双肺 右肺下叶 支气管 胸腔",
    },
    {  # stomach and bowel
        "dis": "急性阑尾炎 胃溃疡 十二指肠溃疡 急性胃肠炎 肠梗阻",
        "sym": "恶心 呕吐 腹泻 便秘 发热 腹胀 黑便",
        "nsym": "右下腹:疼痛 右下腹:压痛 右下腹:反跳痛 上腹部:胀痛 脐周:隐痛",
        "mic": "幽门螺杆菌 大肠埃希菌 轮状病毒 诺如病毒",
        "dru": "奥美拉唑 阿莫西林 克拉霉素 甲硝唑 蒙脱石散",
        "prod": "胃镜检查 结肠镜检查 腹部B超 13C尿素呼气试验",
        "prot": "阑尾切除术 胃肠减压 补液治疗",
        "ite": "白细胞计数 C反应蛋白 粪便常规 血红蛋白 血钾",
        "equ": "胃管 引流管 输液泵",
        "dep": "消化内科 普外科 急诊科",
        "bod": "胃 十二指肠 结肠 阑尾",
    },
    {  # liver, bile ducts, pancreas
        "dis": "肝硬化 慢性乙型肝炎 胆囊结石 急性胰腺炎 急性胆囊炎",
        "sym": "乏力 黄疸 食欲减退 恶心 呕吐 腹胀",
        "nsym": "皮肤:黄染 巩膜:黄染 全身皮肤:瘙痒 皮肤:瘙痒 肝脏:肿大 脾脏:肿大 右上腹:绞痛",
        "mic": "乙型肝炎病毒 HBV 大肠埃希菌",
        "dru": "恩替卡韦 螺内酯 呋塞米 熊去氧胆酸 生长抑素",
        "prod": "腹部B超 腹部CT MRCP",
        "prot": "腹腔镜胆囊切除术 肝移植 ERCP",
        "ite": "谷丙转氨酶 ALT 总胆红素 血淀粉酶 凝血功能 白蛋白",
        "equ": "引流管 胃管 鼻胆管",
        "dep": "消化内科 感染科 肝胆外科",
        "bod": "肝脏 胆囊 胰腺 胆总管",
    },
    {  # heart and vessels
        "dis": "冠心病 高血压病 急性心肌梗死 心力衰竭 心房颤动",
        "sym": "心悸 呼吸困难 晕厥 头晕 胸闷 乏力",
        "nsym": "心前区:疼痛 心前区:压榨样疼痛 胸骨后:疼痛 双下肢:水肿 颈静脉:怒张",
        "exam": "双肺底:湿啰音 心尖区:收缩期杂音",
        "dru": "阿司匹林 氯吡格雷 阿托伐他汀 硝苯地平 美托洛尔 硝酸甘油",
        "prod": "心电图检查 超声心动图 冠状动脉造影",
        "prot": "经皮冠状动脉介入治疗 PCI 溶栓治疗",
        "ite": "肌钙蛋白I 脑钠肽 D-二聚体 血钾 血肌酐",
        "equ": "心电监护仪 冠状动脉支架 除颤仪 心脏起搏器",
        "dep": "心内科 急诊科 CCU",
        "bod": "冠状动脉 心脏 左心室 主动脉瓣",
    },
    {  # endocrine and metabolism
        "dis": "2型糖尿病 1型糖尿病 甲状腺功能亢进症 甲状腺功能减退症 痛风",
        "sym": "多饮 多尿 消瘦 体重下降 心悸 多汗",
        "nsym": "双手:震颤 甲状腺:肿大 双足:麻木 第一跖趾关节:红肿 眼球:突出",
        "dru": "二甲双胍 胰岛素 甲巯咪唑 左甲状腺素 别嘌醇 秋水仙碱",
        "prod": "甲状腺B超 眼底检查 OGTT",
        "prot": "胰岛素强化治疗 放射性碘治疗 饮食控制",
        "ite": "空腹血糖 HbA1c 糖化血红蛋白 TSH 血尿酸",
        "equ": "胰岛素泵 血糖仪 动态血糖监测仪",
        "dep": "内分泌科 眼科",
        "bod": "甲状腺 视网膜 胰岛 垂体",
    },
    {  # kidney and urinary tract
        "dis": "肾病综合征 急性肾小球肾炎 IgA肾病 尿路感染 慢性肾衰竭",
        "sym": "血尿 蛋白尿 少尿 水肿 发热 尿频 尿痛",
        "nsym": "眼睑:水肿 颜面:水肿 双下肢:水肿 腰部:酸痛 肾区:叩痛",
        "mic": "大肠埃希菌 溶血性链球菌 变形杆菌",
        "dru": "泼尼松 甲泼尼龙 呋塞米 头孢曲松 环磷酰胺",
        "prod": "肾穿刺活检 泌尿系B超",
        "prot": "血液透析 腹膜透析 血浆置换",
        "ite": "尿常规 血肌酐 尿素氮 血钾 24小时尿蛋白定量 补体C3",
        "equ": "导尿管 中心静脉导管 血液透析机",
        "dep": "肾内科 泌尿外科 儿科",
        "bod": "肾脏 膀胱 输尿管 肾小球",
    },
    {  # blood
        "dis": "缺铁性贫血 急性白血病 过敏性紫癜 免疫性血小板减少症 地中海贫血",
        "sym": "乏力 发热 头晕 皮疹 鼻出血 面色苍白",
        "nsym": "皮肤:苍白 颈部淋巴结:肿大 脾脏:肿大 膝关节:肿痛 双下肢:紫癜 牙龈:出血",
        "mic": "EB病毒 巨细胞病毒",
        "dru": "硫酸亚铁 甲氨蝶呤 长春新碱 地塞米松 丙种球蛋白",
        "prod": "骨髓穿刺 骨髓活检 流式细胞术",
        "prot": "化疗 造血干细胞移植 输血",
        "ite": "血红蛋白 血小板计数 铁蛋白 白细胞计数 血常规",
        "equ": "PICC导管 输液泵 留置针",
        "dep": "血液科 儿科",
        "bod": "骨髓 脾脏 淋巴结",
    },
    {  # brain and nerves
        "dis": "脑梗死 帕金森病 癫痫 化脓性脑膜炎 病毒性脑炎",
        "sym": "抽搐 意识障碍 头晕 嗜睡 头痛 喷射性呕吐",
        "nsym": "头部:胀痛 颈项:强直 双手:震颤 左下肢:麻木 右侧肢体:无力 口角:歪斜",
        "mic": "肺炎链球菌 新型隐球菌 B族链球菌 单纯疱疹病毒",
        "dru": "阿司匹林 丙戊酸钠 左乙拉西坦 多巴丝肼 甘露醇 阿昔洛韦",
        "prod": "头颅MRI 头颅CT 腰椎穿刺 脑电图",
        "prot": "溶栓治疗 康复训练",
        "ite": "脑脊液常规 脑脊液蛋白 脑脊液糖 C反应蛋白",
        "equ": "呼吸机 心电监护仪 轮椅",
        "dep": "神经内科 神经外科 ICU",
        "bod": "脑 脊髓 基底节区 大脑中动脉",
    },
    {  # rashes and fever in children, skin
        "dis": "手足口病 川崎病 麻疹 水痘 特应性皮炎 湿疹",
        "sym": "发热 皮疹 烦躁不安 高热 流涕 疱疹",
        "nsym": "口腔黏膜:溃疡 咽部:充血 结膜:充血 颈部淋巴结:肿大 皮肤:瘙痒 皮肤:干燥",
        "mic": "EV71 柯萨奇病毒 麻疹病毒 水痘-带状疱疹病毒 金黄色葡萄球菌",
        "dru": "丙种球蛋白 阿司匹林 利巴韦林 布洛芬 对乙酰氨基酚 氯雷他定",
        "prod": "超声心动图 过敏原检测",
        "prot": "物理降温 隔离治疗 湿敷",
        "ite": "C反应蛋白 红细胞沉降率 血小板计数 血清总IgE",
        "equ": "留置针 输液泵 体温计",
        "dep": "儿科 感染科 皮肤科",
        "bod": "冠状动脉 皮肤 口腔 手掌",
    },
    {  # bones and joints
        "dis": "类风湿关节炎 系统性红斑狼疮 强直性脊柱炎 骨质疏松症 佝偻病",
        "sym": "乏力 低热 皮疹 晨僵 脱发",
        "nsym": "膝关节:肿痛 膝关节:活动受限 双手近端指间关节:肿痛 腰背部:疼痛 面部:蝶形红斑",
        "dru": "甲氨蝶呤 泼尼松 羟氯喹 来氟米特 碳酸钙 维生素D",
        "prod": "X线检查 骨密度检查 骶髂关节MRI",
        "prot": "关节置换术 康复训练 理疗",
        "ite": "红细胞沉降率 C反应蛋白 类风湿因子 补体C3 25羟维生素D",
        "equ": "支具 夹板 轮椅",
        "dep": "风湿免疫科 骨科 康复科",
        "bod": "腰椎 股骨颈 骶髂关节 脊柱",
    },
]

# Lab-test items with a value format: name -> (format, low, high).
ITE_VALUES: Dict[str, Tuple[str, float, float]] = {
    "白细胞计数": ("{:.1f}×10^9/L", 2.5, 25.0),
    "C反应蛋白": ("{:.0f} mg/L", 3.0, 180.0),
    "CRP": ("{:.0f} mg/L", 3.0, 180.0),
    "降钙素原": ("{:.2f} ng/mL", 0.05, 12.0),
    "血氧饱和度": ("{:.0f}%", 82.0, 99.0),
    "血红蛋白": ("{:.0f} g/L", 55.0, 160.0),
    "血钾": ("{:.1f} mmol/L", 2.8, 6.1),
    "谷丙转氨酶": ("{:.0f} U/L", 12.0, 420.0),
    "ALT": ("{:.0f} U/L", 12.0, 420.0),
    "总胆红素": ("{:.1f} μmol/L", 5.0, 260.0),
    "血淀粉酶": ("{:.0f} U/L", 40.0, 1500.0),
    "白蛋白": ("{:.1f} g/L", 18.0, 45.0),
    "肌钙蛋白I": ("{:.2f} ng/mL", 0.01, 9.5),
    "脑钠肽": ("{:.0f} pg/mL", 20.0, 3500.0),
    "D-二聚体": ("{:.2f} mg/L", 0.1, 8.0),
    "血肌酐": ("{:.0f} μmol/L", 40.0, 620.0),
    "空腹血糖": ("{:.1f} mmol/L", 3.9, 16.0),
    "HbA1c": ("{:.1f}%", 5.2, 11.5),
    "糖化血红蛋白": ("{:.1f}%", 5.2, 11.5),
    "TSH": ("{:.2f} mIU/L", 0.01, 12.0),
    "血尿酸": ("{:.0f} μmol/L", 180.0, 720.0),
    "尿素氮": ("{:.1f} mmol/L", 2.5, 28.0),
    "24小时尿蛋白定量": ("{:.2f} g", 0.1, 9.0),
    "补体C3": ("{:.2f} g/L", 0.2, 1.6),
    "血小板计数": ("{:.0f}×10^9/L", 8.0, 480.0),
    "铁蛋白": ("{:.0f} μg/L", 3.0, 900.0),
    "脑脊液蛋白": ("{:.2f} g/L", 0.15, 2.5),
    "脑脊液糖": ("{:.1f} mmol/L", 0.8, 4.5),
    "红细胞沉降率": ("{:.0f} mm/h", 3.0, 110.0),
    "血清总IgE": ("{:.0f} IU/mL", 20.0, 1800.0),
    "类风湿因子": ("{:.0f} IU/mL", 5.0, 300.0),
    "25羟维生素D": ("{:.1f} ng/mL", 6.0, 45.0),
}
# Items that form a symptom with a trend word ("血钾降低": sym over ite 血钾).
ITE_TREND: Dict[str, List[str]] = {
    "白细胞计数": ["升高", "降低"],
    "C反应蛋白": ["升高"],
    "降钙素原": ["升高"],
    "血红蛋白": ["降低"],
    "血小板计数": ["减少", "降低"],
    "空腹血糖": ["升高"],
    "谷丙转氨酶": ["升高"],
    "血钾": ["降低", "升高"],
    "血肌酐": ["升高"],
    "血淀粉酶": ["升高"],
    "总胆红素": ["升高"],
    "D-二聚体": ["升高"],
    "白蛋白": ["降低"],
    "血尿酸": ["升高"],
    "肌钙蛋白I": ["升高"],
    "红细胞沉降率": ["增快"],
    "补体C3": ["降低"],
    "铁蛋白": ["降低"],
}

# Frequent words of the templates (not entities), for the word lexicon.
COMMON_WORDS = [
    "患者",
    "患儿",
    "入院",
    "出院",
    "查体",
    "体温",
    "诊断",
    "治疗",
    "复查",
    "提示",
    "给予",
    "口服",
    "静脉滴注",
    "好转",
    "出现",
    "病史",
    "检查",
    "明显",
    "异常",
    "未见",
    "进一步",
    "诊治",
    "考虑",
    "加重",
    "合并",
    "预后",
    "表现",
    "症状",
    "感染",
    "随访",
    "门诊",
    "定期",
    "必要时",
    "正常",
    "范围",
    "典型",
    "早期",
    "及时",
    "就诊",
    "会诊",
    "建议",
    "监测",
    "疗程",
    "每日",
    "规律",
    "服用",
    "控制",
    "恢复",
    "病情",
    "稳定",
    "鉴别",
    "过敏",
    "病原学",
    "外院",
    "我院",
    "收入",
    "转入",
    "疼痛",
    "水肿",
    "肿大",
    "麻木",
    "瘙痒",
    "黄染",
    "充血",
    "升高",
    "降低",
    "检出",
    "累及",
    "无明显诱因",
    "主诉",
    "起病",
    "减轻",
    "消失",
    "体检",
    "确诊",
    "病变",
]

# --- Templates -----------------------------------------------------------------
# {dis} {sym} {mic} {dru} {ite} {equ} {dep} {bod}: a term of that type from the
# record's topic; {prod}/{prot}: a diagnostic/therapeutic procedure; {nsym}: a
# nested symptom; {anysym}: {sym} or {nsym}; {isym}: a lab-test symptom
# ("血钾降低"); {iteval}: an item with a value ("HbA1c 7.5%"); {exam}: an
# examination finding ("双肺可闻及湿啰音"); the rest are unannotated fillers.

TEMPLATES = [
    "患者{sex}，{age}，因{anysym}{dur}入院。",
    "患儿{dur}前无明显诱因出现{anysym}，伴{sym}、{sym}，无{sym}。",
    "查体：体温{temp}，{exam}，{nsym}。",
    "入院后查{iteval}，{iteval}，诊断为{dis}。",
    "予{dru}、{dru}治疗后{anysym}好转。",
    "行{prod}提示{bod}未见明显异常。",
    "既往有{dis}病史{years}年，规律服用{dru}，病情控制可。",
    "{dur}前于外院行{prot}，恢复良好。",
    "转入{dep}，使用{equ}并行{prot}。",
    "病原学检查提示{mic}感染，予{dru}治疗。",
    "病原学检查检出{mic}，考虑{dis}。",
    "{isym}，提示{dis}可能。",
    "出院后于{dep}门诊随访，定期复查{ite}及{ite}。",
    "入院后予{equ}，病情逐渐稳定。",
    "为进一步诊治收入{dep}。",
    "患者{nsym}{dur}，加重伴{sym}{dur}。",
    "复查{iteval}，较前明显好转。",
    "{dis}患者合并{mic}感染时，可出现{anysym}。",
    "{mic}感染可诱发{dis}，表现为{nsym}。",
    "{dis}的典型表现为{anysym}和{anysym}。",
    "{dis}的治疗以{prot}为主，必要时加用{dru}。",
    "约{pct}的{dis}患者可出现{anysym}。",
    "本病应与{dis}、{dis}相鉴别。",
    "{dru}可用于{dis}的治疗，用药期间需监测{ite}。",
    "{dis}患者应定期监测{ite}，必要时行{prod}。",
    "{prod}是诊断{dis}的重要手段。",
    "{dis}可累及{bod}，严重者出现{anysym}。",
    "对{dru}过敏者可选用{dru}。",
    "诊断主要依靠{ite}和{prod}。",
    "{dis}的早期症状不典型，可仅有{sym}。",
    "如出现{anysym}应及时到{dep}就诊。",
    "{dru}{dose}静脉滴注，每日{freq}次，疗程{course}。",
    "{dis}合并{dis}时预后较差。",
    "{nsym}、{nsym}是{dis}的常见表现。",
    "{prot}后继续予{dru}治疗。",
    "{isym}、{isym}，考虑{dis}。",
    "{dep}会诊后建议行{prod}。",
    "查{ite}、{ite}及{ite}均在正常范围。",
    "患者于{date}在{dep}行{prot}，{dur}后出现{nsym}。",
    "{prod}示{bod}病变，{iteval}。",
    "（{dis}）{sym}、{nsym}；{iteval}。",
    "主诉：{nsym}{dur}，{sym}{dur}。",
    "{dis}常以{anysym}起病，{prod}有助于早期诊断。",
    "给予{dru}（{dose}）口服，{freq}次/日。",
    "{dis}患者使用{equ}期间，需注意观察有无{anysym}。",
    "入院诊断：1.{dis}；2.{dis}。",
    "{ite}是评估{dis}病情的重要指标。",
    "现患者{sym}消失，{nsym}减轻，{iteval}。",
    "体检发现{bod}异常，行{prod}确诊为{dis}。",
    "{mic}是{dis}的常见病原体。",
    "培养结果回报{mic}，对{dru}敏感。",
    "{mic}核酸检测阳性，需警惕{dis}。",
    "住院期间使用{equ}{dur}，{anysym}缓解。",
    "{dep}予{equ}及{dru}治疗。",
]

# Sentences without entities.
FILLERS = [
    "病程中精神、睡眠可，大小便正常。",
    "今为进一步诊治来我院。",
    "家族中无类似病史。",
    "目前病情平稳，予以出院。",
    "否认外伤及手术史。",
    "入院后完善相关检查。",
]

SEX = ["男", "女"]
COURSES = ["3天", "5天", "7天", "10天", "14天", "2周", "4周"]
DURS = [
    "3天",
    "2天",
    "1周",
    "2周",
    "半个月",
    "1个月",
    "3个月",
    "半年",
    "1年余",
    "10余天",
    "5小时",
    "2日",
]
DOSES = [
    "0.5 g",
    "1 g",
    "2 g",
    "10 mg/kg",
    "40 mg",
    "20 mg",
    "5 mg",
    "50 mg/kg",
    "2 mg/(kg·d)",
    "400 mg",
]
DATES = ["2019年3月", "2020年11月", "2021年5月", "2022年8月", "2018年1月", "2023年2月"]


class Topic:
    """One topic's term pools, parsed from its TOPICS entry."""

    def __init__(self, spec: Dict[str, str]) -> None:
        self.terms: Dict[str, List[str]] = {
            key: spec.get(key, "").split()
            for key in ("dis", "sym", "mic", "dru", "prod", "prot", "ite", "equ", "dep", "bod")
        }
        self.nsym = [tuple(p.split(":")) for p in spec.get("nsym", "").split()]
        self.exam = [tuple(p.split(":")) for p in spec.get("exam", "").split()]
        self.ite_values = [i for i in self.terms["ite"] if i in ITE_VALUES]
        self.ite_trend = [i for i in self.terms["ite"] if i in ITE_TREND]

    def pool(self, slot: str) -> Sequence:
        """The pool a template slot draws from (empty: the slot can't be filled)."""
        if slot in self.terms:
            return self.terms[slot]
        return {
            "nsym": self.nsym,
            "anysym": self.nsym + [(t,) for t in self.terms["sym"]],
            "exam": self.exam,
            "iteval": self.ite_values,
            "isym": self.ite_trend,
        }.get(slot, ["-"])


TOPIC_LIST = [Topic(spec) for spec in TOPICS]
SLOT_TYPES = {"prod": "pro", "prot": "pro"}


def terms_by_type() -> Dict[str, List[str]]:
    """Every annotated term string per type, in first-seen order."""
    out: Dict[str, List[str]] = {label: [] for label in LABELS}

    def add(label: str, term: str) -> None:
        if term not in out[label]:
            out[label].append(term)

    for topic in TOPIC_LIST:
        for key, terms in topic.terms.items():
            for term in terms:
                add(SLOT_TYPES.get(key, key), term)
        for bod, _ in topic.nsym:
            add("bod", bod)
        for bod, sign in topic.exam:
            add("bod", bod)
            add("sym", sign)
    return out


class Builder:
    """Appends text pieces and records entity spans (end inclusive) as it goes."""

    def __init__(self) -> None:
        self.parts: List[str] = []
        self.length = 0
        self.entities: List[Tuple[int, int, str]] = []

    def add(self, piece: str, label: Optional[str] = None) -> int:
        start = self.length
        self.parts.append(piece)
        self.length += len(piece)
        if label is not None:
            self.entities.append((start, self.length - 1, label))
        return start

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Generator:
    """Fills templates with terms of one topic per record, drawn from one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.topic = TOPIC_LIST[0]
        self.used: Dict[str, List] = {}
        self.special: Dict[str, Callable[[Builder], None]] = {
            "nsym": self.nested_sym,
            "isym": self.ite_sym,
            "anysym": self.any_sym,
            "iteval": self.ite_value,
            "exam": self.exam,
            "sex": lambda b: b.add(self.rng.choice(SEX)),
            "age": lambda b: b.add(f"{self.rng.randint(1, 85)}岁"),
            "dur": lambda b: b.add(self.rng.choice(DURS)),
            "years": lambda b: b.add(str(self.rng.randint(2, 20))),
            "temp": lambda b: b.add(f"{self.rng.randint(365, 405) / 10:.1f}℃"),
            "pct": lambda b: b.add(f"{self.rng.randint(2, 18) * 5}%"),
            "course": lambda b: b.add(self.rng.choice(COURSES)),
            "dose": lambda b: b.add(self.rng.choice(DOSES)),
            "freq": lambda b: b.add(str(self.rng.randint(1, 3))),
            "date": lambda b: b.add(self.rng.choice(DATES)),
        }

    def distinct(self, key: str, pool: Sequence) -> Any:
        """An item of ``pool`` not yet used in the current record, where the pool allows."""
        used = self.used.setdefault(key, [])
        choices = [t for t in pool if t not in used] or list(pool)
        item = self.rng.choice(choices)
        used.append(item)
        return item

    def nested_sym(self, b: Builder) -> None:
        bod, word = self.distinct("nsym", self.topic.nsym)
        start = b.add(bod, "bod")
        b.add(word)
        b.entities.append((start, b.length - 1, "sym"))

    def any_sym(self, b: Builder) -> None:
        if self.rng.random() < 0.5:
            self.nested_sym(b)
        else:
            b.add(self.distinct("sym", self.topic.terms["sym"]), "sym")

    def ite_sym(self, b: Builder) -> None:
        ite = self.distinct("ite", self.topic.ite_trend)
        start = b.add(ite, "ite")
        b.add(self.rng.choice(ITE_TREND[ite]))
        b.entities.append((start, b.length - 1, "sym"))

    def ite_value(self, b: Builder) -> None:
        name = self.distinct("ite", self.topic.ite_values)
        fmt, low, high = ITE_VALUES[name]
        b.add(name, "ite")
        b.add(self.rng.choice([" ", "：", "为"] if name.isascii() else ["", "为", "："]))
        b.add(fmt.format(low + (high - low) * self.rng.random()))

    def exam(self, b: Builder) -> None:
        bod, sign = self.distinct("exam", self.topic.exam)
        b.add(bod, "bod")
        b.add(self.rng.choice(["可闻及", "闻及"]))
        b.add(sign, "sym")

    def sentence(self, b: Builder) -> None:
        if self.rng.random() < 0.04:
            b.add(self.rng.choice(FILLERS))
            return
        while True:  # a template whose slots the topic can fill
            template = self.rng.choice(TEMPLATES)
            slots = re.findall(r"\{(\w+)\}", template)
            if all(self.topic.pool(slot) for slot in slots):
                break
        pos = 0
        for m in re.finditer(r"\{(\w+)\}", template):
            if m.start() > pos:
                b.add(template[pos : m.start()])
            slot = m.group(1)
            if slot in self.special:
                self.special[slot](b)
            else:
                b.add(self.distinct(slot, self.topic.terms[slot]), SLOT_TYPES.get(slot, slot))
            pos = m.end()
        if pos < len(template):
            b.add(template[pos:])

    def record(self, long: bool) -> Dict:
        """One record, or {} when a long record overshot 300 characters."""
        self.used = {}
        self.topic = self.rng.choice(TOPIC_LIST)
        b = Builder()
        if long:
            target = self.rng.randint(150, 280)
            while b.length < target:
                self.sentence(b)
        else:
            for _ in range(self.rng.choices((1, 2, 3), weights=(3, 4, 3))[0]):
                self.sentence(b)
        text = b.text
        if len(text) > 300:
            return {}
        ents = sorted(b.entities, key=lambda e: (e[0], -e[1], e[2]))
        return {
            "text": text,
            "entities": [
                {"start_idx": s, "end_idx": e, "type": t, "entity": text[s : e + 1]}
                for s, e, t in ents
            ],
        }


def make_split(gen: Generator, n: int, n_long: int, seen: set) -> List[Dict]:
    """``n`` records with texts unseen so far, ``n_long`` of them long, shuffled."""
    records: List[Dict] = []
    for i in range(n):
        long = i < n_long
        while True:
            rec = gen.record(long)
            if rec and rec["text"] not in seen and (not long or len(rec["text"]) >= 150):
                break
        seen.add(rec["text"])
        records.append(rec)
    gen.rng.shuffle(records)
    return records


def dump_records(records: List[Dict]) -> str:
    """A JSON list with one record per line."""
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def lexicon_words() -> List[Tuple[str, str]]:
    """(word, group) pairs, sorted: multi-character terms of every type, then common words."""
    groups = list(terms_by_type().items()) + [("word", COMMON_WORDS)]
    out: List[Tuple[str, str]] = []
    seen = set()
    for group, words in groups:
        for w in words:
            if len(w) > 1 and w not in seen:
                seen.add(w)
                out.append((w, group))
    return sorted(out)


def vectors_text(words: List[Tuple[str, str]], rng: random.Random, dim: int) -> str:
    """word2vec text format; a word is its group's centre plus noise, so types cluster."""
    centres = {g: [rng.gauss(0.0, 1.0) for _ in range(dim)] for g in LABELS + ("word",)}
    lines = [f"{len(words)} {dim}"]
    for word, group in words:
        vec = [c + rng.gauss(0.0, 0.4) for c in centres[group]]
        lines.append(word + " " + " ".join(f"{v:.4f}" for v in vec))
    return "\n".join(lines) + "\n"


SPECIAL_TOKENS = ["[PAD]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocab_tokens(texts: Sequence[str]) -> List[str]:
    """Special tokens, then every (lowercased) non-space character, digits and a-z."""
    chars = {c.lower() for t in texts for c in t if not c.isspace()}
    chars |= set("0123456789abcdefghijklmnopqrstuvwxyz")
    return SPECIAL_TOKENS + sorted(chars)


def bert_config(vocab_size: int) -> Dict:
    return {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "BertTokenizer",
    "do_lower_case": True,
    "tokenize_chinese_chars": True,
    "strip_accents": None,
    "model_max_length": 512,
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def build(out: Path) -> Dict[str, List[Dict]]:
    """Write corpus/ and tiny-bert/ under ``out``; return the splits."""
    rng = random.Random(SEED)
    gen = Generator(rng)
    seen: set = set()
    splits = {
        "train": make_split(gen, N_TRAIN, LONG_TRAIN, seen),
        "dev": make_split(gen, N_DEV, LONG_DEV, seen),
        "test": make_split(gen, N_TEST, LONG_TEST, seen),
    }
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, records in splits.items():
        (corpus / f"{name}.json").write_text(dump_records(records), encoding="utf-8")
    words = lexicon_words()
    (corpus / "lexicon.txt").write_text("".join(w + "\n" for w, _ in words), encoding="utf-8")
    (corpus / "vectors.txt").write_text(
        vectors_text(words, random.Random(SEED + 1), VECTOR_DIM), encoding="utf-8"
    )
    bert = out / "tiny-bert"
    bert.mkdir(parents=True, exist_ok=True)
    tokens = vocab_tokens([r["text"] for recs in splits.values() for r in recs])
    (bert / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    for name, obj in (
        ("config.json", bert_config(len(tokens))),
        ("tokenizer_config.json", TOKENIZER_CONFIG),
    ):
        (bert / name).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return splits


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parent), help="Output directory."
    )
    args = parser.parse_args(argv)
    splits = build(Path(args.out))
    for name, records in splits.items():
        n_ents = sum(len(r["entities"]) for r in records)
        print(f"{name}: {len(records)} records, {n_ents} entities")


if __name__ == "__main__":
    main()
