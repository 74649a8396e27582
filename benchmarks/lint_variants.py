"""Labelled surface variants for the analysis-style lint rules (issue 10, item 2).

Written independently of `finsynth.audit.lint`: the shapes below are what annotators and models really
write (GUIDE lessons 4-6 and the v11 corpus), not what any detector happens to match.

Every generator takes a `random.Random` (or anything with its methods, such as hypothesis's
`st.randoms()`) and returns a valid `Sample` whose paragraph names every metric and value that the
analysis talks about, so rules other than the one under test have nothing to say. Labels and the
surface choices ride in the provenance (which allows extra fields):

    sample.provenance.family   "semicolon-enumeration" | ... | "negative"
    sample.provenance.kind     the sub-kind (e.g. "a_exclusion", "number_heavy")
    sample.provenance.variant  {axis: choice} - the surface choices made
    sample.provenance.labels   {rule: True | False | None}; None = not asserted either way

API:
    FAMILIES, TARGET_RULES, ENUM_RULES, NEGATIVE_KINDS
    positive(family, rng) -> Sample               one positive of a family
    positives(family, n, seed=0) -> list[Sample]  n positives, deterministic
    negative(rng, kind=None) -> Sample            one negative (kind random if None)
    negatives(n, seed=0) -> list[Sample]          n negatives, kinds round-robin, deterministic
    labels_of(sample), variant_of(sample), kind_of(sample), family_of(sample)
    variant_space(family) -> int                  number of distinct surface variants the axes span
    building blocks: world(rng, n_core, n_extra), Fact, head(fact, rng, form), exclusion_list(...),
    prose_body(...), hybrid_body(...), and the analysis builders per family.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from math import prod
from typing import Any

from finsynth.schema import Provenance, Sample

FAMILIES = ("semicolon-enumeration", "numbered-list", "count-anchor", "style-mismatch")
TARGET_RULES = FAMILIES
ENUM_RULES = ("numbered-list", "semicolon-enumeration", "count-anchor")
SOURCE = "benchmarks/lint_variants.py"

# --------------------------------------------------------------------------------------------------
# vocabulary
# --------------------------------------------------------------------------------------------------

PP_KINDS = {"pct", "pct_small", "pct_big"}


def _u(rng: random.Random, lo: float, hi: float) -> float:
    return lo + (hi - lo) * rng.random()


VALUE_FORMATS: dict[str, Any] = {
    "pct": lambda r: f"{_u(r, 8, 65):.1f}%",
    "pct_small": lambda r: f"{_u(r, 0.8, 2.9):.2f}%",
    "pct_big": lambda r: f"{_u(r, 150, 450):.1f}%",
    "yuan": lambda r: f"{_u(r, 1.5, 3.4):.2f}元",
    "yuan_small": lambda r: f"{_u(r, 0.38, 0.62):.3f}元",
    "yuan_int": lambda r: f"{r.randint(45, 420)}元",
    "yuan_kg": lambda r: f"{_u(r, 12, 18):.1f}元/公斤",
    "yi": lambda r: r.choice([f"{r.randint(12, 980)}亿元", f"{_u(r, 12, 980):.1f}亿元"]),
    "yi_big": lambda r: f"{r.randint(10000, 49000):,}亿元",
    "yi_usd": lambda r: f"{_u(r, 8, 60):.1f}亿美元",
    "wanyi": lambda r: f"{_u(r, 3, 15):.1f}万亿元",
    "wan_users": lambda r: f"{r.randint(1100, 9800):,}万",
    "wan_hu": lambda r: f"{_u(r, 1.2, 9.8):.1f}万户" if r.random() < 0.3 else f"{r.randint(1100, 9800):,}万户",
    "wan_tou": lambda r: f"{r.randint(1200, 7200):,}万头",
    "wan_zhi": lambda r: f"{r.randint(20, 380)}万只",
    "wan_pian": lambda r: f"{r.randint(150, 260)}万片",
    "wan_yuan_m2": lambda r: f"{_u(r, 1.5, 9.8):.1f}万元/平方米",
    "wan_yuan_t": lambda r: f"{_u(r, 1.5, 9.8):.1f}万元/吨",
    "gw": lambda r: f"{r.randint(20, 95)}GW",
    "gw_big": lambda r: f"{r.randint(210, 420)}GW",
    "yipiao": lambda r: f"{_u(r, 40, 120):.1f}亿票",
    "yi_zkm": lambda r: f"{r.randint(800, 3200):,}亿座公里",
    "yi_renci": lambda r: f"{_u(r, 3, 7.5):.2f}亿人次",
    "jia": lambda r: f"{r.randint(800, 3200):,}家",
    "wan_qsh": lambda r: f"{r.randint(180, 460)}万千升",
}


@dataclass(frozen=True)
class MetricSpec:
    name: str
    mtype: str  # "financial" | "business"
    kind: str  # key of VALUE_FORMATS
    points: tuple[str, ...]  # noun phrases that fit after "是" or after a head separator


@dataclass(frozen=True)
class Industry:
    desc: str
    topic: str
    companies: tuple[str, ...]
    titles: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]
    qualitative: tuple[str, ...]
    macro: tuple[str, str]  # (name, value kind): industry-level data, not the company's own


F, B = "financial", "business"
INDUSTRIES: tuple[Industry, ...] = (
    Industry(
        "快递企业",
        "单票经济性",
        ("圆通速递", "韵达股份", "申通快递"),
        ("单票经济性分析", "经营数据点评", "成本管控"),
        (
            MetricSpec("单票收入", B, "yuan", ("价格竞争的直接体现", "定价能力的核心度量")),
            MetricSpec("单票成本", B, "yuan", ("自动化分拣摊薄成本的结果", "成本管控成效的直接度量")),
            MetricSpec("业务量", B, "yipiao", ("规模扩张的直接体现", "市场份额变化的基础")),
            MetricSpec("毛利率", F, "pct", ("单票经济性在报表上的落脚点", "盈利能力的核心度量")),
            MetricSpec("归母净利润", F, "yi", ("利润弹性的最终体现", "经营改善的报表结果")),
            MetricSpec("市场占有率", B, "pct", ("行业竞争格局的直接反映", "份额争夺的结果")),
        ),
        ("行业价格战有所缓和", "末端网点加速整合"),
        ("全国快递业务量", "yipiao"),
    ),
    Industry(
        "光模块厂商",
        "产品结构升级",
        ("中际旭创", "新易盛", "天孚通信"),
        ("产品结构分析", "业绩点评", "盈利能力分析"),
        (
            MetricSpec("1.6T光模块出货量", B, "wan_zhi", ("高速率产品放量的直接体现", "技术代际领先的度量")),
            MetricSpec("800G光模块收入占比", B, "pct", ("产品结构升级的核心信号", "高端化进度的度量")),
            MetricSpec("毛利率", F, "pct", ("产品结构改善在报表上的体现", "盈利能力的核心度量")),
            MetricSpec("研发费用率", F, "pct", ("技术投入强度的度量", "持续创新能力的保障")),
            MetricSpec("营业收入", F, "yi", ("规模增长的直接结果", "订单转化能力的体现")),
            MetricSpec("海外收入占比", B, "pct", ("客户结构的核心特征", "全球化进度的度量")),
        ),
        ("AI算力需求持续旺盛", "海外云厂商资本开支上修"),
        ("全球光模块市场规模", "yi_usd"),
    ),
    Industry(
        "生猪养殖龙头",
        "成本竞争力",
        ("牧原股份", "温氏股份", "新希望"),
        ("农业板块分析", "成本管控", "经营数据点评"),
        (
            MetricSpec("生猪出栏量", B, "wan_tou", ("规模基数", "产能释放的直接体现")),
            MetricSpec("完全成本", B, "yuan_kg", ("养殖龙头核心竞争力的直接度量", "穿越猪周期能力的基础")),
            MetricSpec("产能利用率", B, "pct", ("运营效率改善的核心信号", "成本下降的直接推动力")),
            MetricSpec("头均盈利", B, "yuan_int", ("成本和售价共同作用的结果", "盈利弹性的度量")),
            MetricSpec("资产负债率", F, "pct", ("财务风险的核心度量", "资本结构改善的体现")),
            MetricSpec("经营性现金流净额", F, "yi", ("现金回收能力的直接度量", "扩张可持续性的保障")),
        ),
        ("猪价进入新一轮上行周期", "行业产能持续去化"),
        ("全国能繁母猪存栏", "wan_tou"),
    ),
    Industry(
        "连锁零售企业",
        "会员运营与盈利转化",
        ("永辉超市", "家家悦", "高鑫零售"),
        ("零售业务分析", "消费品渠道分析", "经营效率"),
        (
            MetricSpec("会员总数", B, "wan_users", ("用户运营规模的度量", "用户端增长动能的体现")),
            MetricSpec("同店销售增长率", B, "pct", ("存量门店经营质量的核心度量", "内生增长的直接体现")),
            MetricSpec("坪效", B, "wan_yuan_m2", ("零售运营效率的综合结果", "门店经营质量的度量")),
            MetricSpec("综合毛利率", F, "pct", ("盈利转化效率的核心度量", "商品结构改善在报表上的体现")),
            MetricSpec("销售费用率", F, "pct", ("费用管控成效的度量", "经营杠杆释放的体现")),
            MetricSpec("付费会员占比", B, "pct", ("会员结构优化的信号", "用户价值提升的度量")),
        ),
        ("自有品牌渗透率持续提升", "促销活动管理更加精细化"),
        ("社会消费品零售总额", "yi_big"),
    ),
    Industry(
        "股份制银行",
        "息差与资产质量",
        ("招商银行", "宁波银行", "平安银行"),
        ("银行业绩点评", "资产质量分析", "盈利能力分析"),
        (
            MetricSpec("净息差", F, "pct_small", ("盈利能力的核心度量", "资产负债定价能力的体现")),
            MetricSpec("不良贷款率", F, "pct_small", ("资产质量的核心度量", "风险暴露程度的直接体现")),
            MetricSpec("拨备覆盖率", F, "pct_big", ("风险抵补能力的度量", "利润调节空间的来源")),
            MetricSpec("零售客户数", B, "wan_hu", ("零售业务规模的基础", "获客能力的体现")),
            MetricSpec("营业收入", F, "yi", ("经营规模的直接结果", "息差与规模共同作用的结果")),
            MetricSpec("零售AUM", B, "wanyi", ("财富管理能力的核心度量", "客户黏性的体现")),
        ),
        ("零售信贷需求仍偏弱", "存款定期化趋势延续"),
        ("银行业金融机构总资产", "yi_big"),
    ),
    Industry(
        "光伏逆变器企业",
        "出货与盈利",
        ("阳光电源", "固德威", "锦浪科技"),
        ("收入增长分析", "业绩点评", "盈利能力分析"),
        (
            MetricSpec("逆变器出货量", B, "gw", ("市场需求的直接体现", "份额提升的度量")),
            MetricSpec("储能系统集成收入", F, "yi", ("第二增长曲线的核心度量", "储能业务放量的报表体现")),
            MetricSpec("毛利率", F, "pct", ("盈利能力的核心度量", "产品结构改善在报表上的体现")),
            MetricSpec("经营性现金流净额", F, "yi", ("回款质量的直接度量", "盈利含金量的体现")),
            MetricSpec("海外收入占比", B, "pct", ("全球化布局的度量", "高毛利市场贡献的体现")),
            MetricSpec("在手订单", B, "yi", ("未来收入确定性的度量", "需求景气度的领先信号")),
        ),
        ("下游光伏装机需求旺盛", "储能市场快速爆发"),
        ("全球新增光伏装机", "gw_big"),
    ),
    Industry(
        "晶圆代工企业",
        "产能与制程结构",
        ("中芯国际", "华虹半导体"),
        ("产能利用率分析", "季度业绩点评", "经营数据点评"),
        (
            MetricSpec("产能利用率", B, "pct", ("需求复苏的直接体现", "盈利弹性的核心来源")),
            MetricSpec("28nm及以下收入占比", B, "pct", ("制程结构升级的核心度量", "先进工艺放量的体现")),
            MetricSpec("营业收入", F, "yi_usd", ("规模增长的直接结果", "出货和价格共同作用的结果")),
            MetricSpec("毛利率", F, "pct", ("盈利能力的核心度量", "折旧压力下的盈利表现")),
            MetricSpec("资本开支", F, "yi_usd", ("产能扩张强度的度量", "未来折旧压力的来源")),
            MetricSpec("晶圆出货量", B, "wan_pian", ("产能释放的直接体现", "规模基础")),
        ),
        ("国产替代进程加快", "消费电子需求温和复苏"),
        ("全球晶圆代工市场规模", "yi_usd"),
    ),
    Industry(
        "航空公司",
        "运力恢复与成本",
        ("中国国航", "南方航空", "春秋航空"),
        ("航空运输分析", "经营数据点评", "成本管控"),
        (
            MetricSpec("客座率", B, "pct", ("运力消化能力的核心度量", "需求恢复的直接体现")),
            MetricSpec("可用座公里", B, "yi_zkm", ("运力投放规模的度量", "规模背景")),
            MetricSpec("单位座公里成本", B, "yuan_small", ("成本管控成效的核心度量", "运营效率的体现")),
            MetricSpec("燃油成本占比", F, "pct", ("成本结构的核心特征", "油价敏感度的度量")),
            MetricSpec("归母净利润", F, "yi", ("经营改善的最终结果", "盈利修复的报表体现")),
            MetricSpec("国际航线收入占比", B, "pct", ("国际线恢复进度的度量", "收入结构改善的信号")),
        ),
        ("国际航线加速恢复", "公商务出行需求回暖"),
        ("民航旅客运输量", "yi_renci"),
    ),
    Industry(
        "白酒企业",
        "渠道改革与量价",
        ("贵州茅台", "五粮液", "泸州老窖"),
        ("白酒板块分析", "渠道分析", "业绩点评"),
        (
            MetricSpec("营业收入", F, "yi", ("量价齐升的直接结果", "规模增长的报表体现")),
            MetricSpec("直销收入占比", B, "pct", ("渠道改革进度的核心度量", "利润留存能力的来源")),
            MetricSpec("毛利率", F, "pct", ("品牌溢价的直接体现", "盈利能力的核心度量")),
            MetricSpec("合同负债", F, "yi", ("渠道打款意愿的领先信号", "未来收入的蓄水池")),
            MetricSpec("经销商数量", B, "jia", ("渠道结构调整的体现", "渠道扁平化的度量")),
            MetricSpec("吨价", B, "wan_yuan_t", ("产品结构升级的核心度量", "提价效果的体现")),
        ),
        ("高端白酒需求韧性较强", "渠道库存处于良性水平"),
        ("全国白酒产量", "wan_qsh"),
    ),
    Industry(
        "互联网金融信息平台",
        "用户变现",
        ("同花顺", "东方财富", "指南针"),
        ("用户运营分析", "盈利能力分析", "业绩点评"),
        (
            MetricSpec("月活跃用户数", B, "wan_users", ("用户规模基础", "流量入口价值的度量")),
            MetricSpec("付费用户数", B, "wan_users", ("用户变现能力的核心度量", "付费意愿提升的体现")),
            MetricSpec("ARPU", B, "yuan_int", ("单用户价值的度量", "产品提价效果的体现")),
            MetricSpec("净利率", F, "pct", ("盈利水平的核心度量", "经营杠杆释放的体现")),
            MetricSpec("销售费用率", F, "pct", ("获客成本的度量", "费用管控成效的体现")),
            MetricSpec("付费转化率", B, "pct", ("转化效率的核心度量", "产品力提升的信号")),
        ),
        ("AI智能投顾产品上线", "资本市场交投活跃度回升"),
        ("A股新开户数", "wan_hu"),
    ),
)

PERIODS = ("2025H1", "2025年上半年", "2024年", "2025Q1", "2025年前三季度")
RATIONALE = {
    F: (
        "利润表核心科目，衡量收入到利润的转化效率",
        "财务报表科目，直接来自利润表",
        "财务指标，反映报表层面的经营结果",
        "来自财务报表，衡量盈利或费用水平",
    ),
    B: (
        "衡量经营活动规模，不直接出现在财务报表中",
        "业务运营指标，非财务报表数据",
        "经营层面的量化度量，非财务报表科目",
        "衡量运营效率，来自业务统计而非报表",
    ),
}
EXCLUSION_REASONS = {
    "归因项": ("是{core}变动的驱动因素之一，不是分析主体", "是解释{core}变化的原因，属于归因链条的一环"),
    "子项拆分": ("是{core}的结构细分，不应独立提取", "是{core}的拆分维度"),
    "规模背景": ("是业务规模的背景数据，段落未深入分析", "是绝对规模的背景说明"),
    "历史参照": ("是基期参照值，用于计算变化幅度", "是历史数据，用于对比"),
    "行业/宏观数据": ("是行业整体数据，不是公司自身指标", "是外部统计口径的宏观背景"),
}
QUAL_CATS = ("定性/无数值", "定性无数值")
QUAL_REASONS = ("是定性描述，无具体数值支撑", "是趋势的定性判断，无量化数据", "是{core}的定性解释，没有数值")


# --------------------------------------------------------------------------------------------------
# facts and the world of one sample
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One quantitative statement of the paragraph."""

    name: str
    mtype: str
    value: str
    change: str | None  # compact: 同比+4.6pct / 同比-3%
    change_text: str | None  # prose: 同比提升4.6个百分点 / 同比下降3%
    points: tuple[str, ...] = ()

    def compact(self, with_change: bool = True) -> str:
        return self.value + (f"，{self.change}" if with_change and self.change else "")

    def clause(self) -> str:
        return f"{self.name}{self.value}" + (f"，{self.change_text}" if self.change_text else "")


def _change(rng: random.Random, kind: str) -> tuple[str | None, str | None]:
    if rng.random() < 0.15:
        return None, None
    base = "同比" if rng.random() < 0.85 else "环比"
    up = rng.random() < 0.65
    if kind in PP_KINDS:
        x = f"{_u(rng, 0.03, 0.3):.2f}" if kind == "pct_small" else f"{_u(rng, 0.3, 6.0):.1f}"
        return f"{base}{'+' if up else '-'}{x}pct", f"{base}{'提升' if up else '下降'}{x}个百分点"
    x = str(rng.randint(2, 45)) if rng.random() < 0.4 else f"{_u(rng, 1.0, 45.0):.1f}"
    return f"{base}{'+' if up else '-'}{x}%", f"{base}{'增长' if up else '下降'}{x}%"


def make_fact(rng: random.Random, spec: MetricSpec) -> Fact:
    change, text = _change(rng, spec.kind)
    return Fact(spec.name, spec.mtype, VALUE_FORMATS[spec.kind](rng), change, text, spec.points)


@dataclass
class World:
    """The facts behind one sample: core metrics, other numbers, qualitative statements."""

    industry: Industry
    company: str
    period: str
    title: str
    core: list[Fact]
    extras: list[Fact]
    qualitative: list[str]
    macro: Fact | None
    decorations: list[tuple[str, str]] = field(default_factory=list)  # (paragraph sentence, analysis sentence)

    def paragraph(self, rng: random.Random) -> str:
        facts = self.core + self.extras
        order = facts[:]
        rng.shuffle(order)
        parts = []
        verbs = ("为", "达到", "录得", "")
        for i, f in enumerate(order):
            verb = rng.choice(verbs)
            s = f"{f.name}{verb}{f.value}" + (f"，{f.change_text}" if f.change_text else "")
            parts.append((f"{self.company}{self.period}" if i == 0 else "") + s)
        if not facts:
            parts.append(f"{self.company}{self.period}经营整体平稳")
        if self.macro:
            parts.insert(rng.randint(0, len(parts)), f"据行业统计，{self.macro.name}约{self.macro.value}")
        for q in self.qualitative:
            parts.insert(rng.randint(0, len(parts)), f"{q}")
        for para, _ in self.decorations:
            parts.insert(rng.randint(1, len(parts)), para)
        return "。".join(parts) + "。我们认为公司的" + self.industry.topic + "仍有改善空间。"


def world(
    rng: random.Random, n_core: int, n_extra: int, n_qual: int = 0, macro: bool = False, mixed: bool = False
) -> World:
    """Draw an industry and n_core + n_extra distinct metrics (at most 6 in all); `mixed` puts one
    financial and one business metric among the core (type D)."""
    ind = rng.choice(INDUSTRIES)
    specs = rng.sample(ind.metrics, min(len(ind.metrics), n_core + n_extra))
    if mixed and n_core >= 2:
        fin = next((s for s in specs if s.mtype == F), None)
        bus = next((s for s in specs if s.mtype == B), None)
        if fin and bus:
            pair = [fin, bus]
            rng.shuffle(pair)
            specs = pair + [s for s in specs if s not in pair]
    facts = [make_fact(rng, s) for s in specs]
    mfact = None
    if macro:
        mfact = Fact(ind.macro[0], B, VALUE_FORMATS[ind.macro[1]](rng), None, None)
    return World(
        ind,
        rng.choice(ind.companies),
        rng.choice(PERIODS),
        rng.choice(ind.titles),
        facts[:n_core],
        facts[n_core:],
        rng.sample(ind.qualitative, min(n_qual, len(ind.qualitative))),
        mfact,
    )


def _metrics(rng: random.Random, core: list[Fact]) -> list[dict]:
    scores = sorted((round(_u(rng, 0.72, 1.0), 2) for _ in core), reverse=True)
    return [
        {
            "metric_name": f.name,
            "metric_type": f.mtype,
            "score": s,
            "reason": f"{f.compact()}，{rng.choice(f.points) if f.points else '段落核心分析对象'}",
        }
        for f, s in zip(core, scores, strict=True)
    ]


def _sample(
    type_: str,
    w: World,
    analysis: str,
    rng: random.Random,
    *,
    family: str,
    kind: str,
    variant: dict,
    labels: dict,
    core: list[Fact] | None = None,
) -> Sample:
    return Sample(
        type=type_,
        input={"chapter_title": w.title, "paragraph": w.paragraph(rng)},
        output={"analysis": analysis, "metrics": _metrics(rng, w.core if core is None else core)},
        provenance=Provenance(source=SOURCE, family=family, kind=kind, variant=variant, labels=labels),
    )


class _Axes(dict):
    """Records each surface choice: `pick(rng, "sep", options)`."""

    def pick(self, rng: random.Random, axis: str, options):
        choice = rng.choice(list(options))
        self[axis] = choice if isinstance(choice, (str, int, bool)) or choice is None else repr(choice)
        return choice


def _point(rng: random.Random, f: Fact) -> str:
    return rng.choice(f.points) if f.points else "段落的分析主体"


def _join_cn(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + "和" + names[-1]


CN_NUM = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五"}
CN_ORD = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五"}
CIRCLED = {1: "①", 2: "②", 3: "③", 4: "④", 5: "⑤"}


# --------------------------------------------------------------------------------------------------
# clean bodies (the required style of each type)
# --------------------------------------------------------------------------------------------------


def opening_sentence(rng: random.Random, w: World) -> str:
    ind = w.industry
    return rng.choice(
        (
            f"段落分析{ind.desc}的{ind.topic}。",
            f"段落围绕{w.company}的{ind.topic}展开。",
            f"这段文字讨论{ind.desc}的{ind.topic}。",
            f"段落聚焦{w.company}{w.period}的{ind.topic}。",
        )
    )


def prose_body(rng: random.Random, w: World, *, opening: bool = True, dash_ok: bool = True) -> str:
    """A/C-style flowing prose: what is analysed and why, then the background numbers in a sentence each.
    Corpus-like: a sentence may carry one '——' after '是…' (A rows do); never a head before a separator."""
    out = [opening_sentence(rng, w)] if opening else []
    for i, f in enumerate(w.core):
        p = _point(rng, f)
        forms = [
            f"{f.name}{f.value}" + (f"{f.change_text}" if f.change_text else "") + f"是{p}。",
            f"{f.name}达到{f.value}，" + (f"{f.change_text}，" if f.change_text else "") + f"是{p}。",
        ]
        if i == 0:
            forms.append(f"{f.name}{f.value}是段落核心分析对象，直接体现{p}。")
            if dash_ok:
                forms.append(f"{f.name}{f.value}是段落的核心分析对象——{p}。")
        out.append(rng.choice(forms))
    for f in w.extras:
        out.append(
            rng.choice(
                (
                    f"{f.name}{f.value}是规模背景。",
                    f"{f.name}是{rng.choice(('历史参照', '归因项', '结构补充'))}，不单独分析。",
                    f"{f.name}的变化用于解释核心指标，不是分析主体。",
                )
            )
        )
    if not w.core:
        out.append("段落没有被深度分析的量化指标，提及的数据都是背景。")
    return "".join(out)


def c_prose_body(rng: random.Random, w: World) -> str:
    """C-style prose without a count opening (1, 3 or 4 metrics)."""
    names = [f.name for f in w.core]
    ind = w.industry
    if len(names) == 1:
        f = w.core[0]
        others = [e.name for e in w.extras]
        s = (
            f"段落围绕{f.name}展开完整分析，给出了{f.value}的具体数值"
            + (f"和{f.change_text}的变化" if f.change_text else "")
            + "。"
        )
        if others:
            s += f"虽然提及了{_join_cn(others)}，但这些都是解释{f.name}变动的因素，并非独立分析的指标。"
        return s + f"段落的分析主体始终是{f.name}本身。"
    s = rng.choice(
        (
            f"段落从{_join_cn(names)}几个维度分析了{ind.desc}的{ind.topic}。",
            f"段落分析{ind.desc}的{ind.topic}，{_join_cn(names)}都有数值和归因。",
        )
    )
    for f in w.core:
        s += f"{f.name}{f.value}是{_point(rng, f)}。"
    for e in w.extras:
        s += f"{e.name}是背景补充。"
    return s


def exclusion_list(rng: random.Random, w: World, *, sep: str = "。", lead: str = "逐项排除：") -> str:
    """The per-item exclusion list: every non-core number with a category and a reason."""
    core = w.core[0].name if w.core else "核心指标"
    items = []
    for f in w.extras:
        cat = rng.choice(("归因项", "子项拆分", "规模背景", "历史参照"))
        reason = rng.choice(EXCLUSION_REASONS[cat]).format(core=core)
        items.append(f"{f.name}（{f.compact()}）：{cat}——{reason}")
    if w.macro:
        items.append(
            f"{w.macro.name}（约{w.macro.value}）：行业/宏观数据——{rng.choice(EXCLUSION_REASONS['行业/宏观数据'])}"
        )
    for q in w.qualitative:
        items.append(f"{q}：{rng.choice(QUAL_CATS)}——{rng.choice(QUAL_REASONS).format(core=core)}")
    for para, _ in w.decorations:
        items.append(f"{para}：{rng.choice(QUAL_CATS)}——是背景描述")
    rng.shuffle(items)
    return lead + sep.join(items) + "。"


def b_core_opening(w: World, *, hybrid: bool = False, rng: random.Random | None = None) -> str:
    if not w.core:
        return f"本段无核心量化分析对象，通篇为{w.industry.desc}的{w.industry.topic}综述。"
    parts = []
    for f in w.core:
        inner = f.compact()
        if hybrid:
            inner += f"，{f.mtype}——{(rng or random).choice(RATIONALE[f.mtype])}"
        parts.append(f"{f.name}（{inner}）")
    return f"本段核心分析对象是{_join_cn(parts)}。"


def b_closing(rng: random.Random, w: World) -> str:
    if not w.core:
        return "缺乏可深度分析的量化数据，不应提取指标。"
    return rng.choice(
        (
            "段落分析框架是'原因→结果'，只有结果才是分析主体。",
            f"核心是{w.core[0].name}本身，其余数据用于解释其变动。",
            "其余数字都是背景或归因，不应各自独立提取。",
        )
    )


def exclusion_body(rng: random.Random, w: World, *, sep: str = "。", lead: str = "逐项排除：") -> str:
    return b_core_opening(w) + exclusion_list(rng, w, sep=sep, lead=lead) + b_closing(rng, w)


def hybrid_body(rng: random.Random, w: World) -> str:
    """D-style hybrid: the exclusion list plus a financial/business rationale for each extracted metric."""
    frame = "+".join(f"{f.name}（{f.mtype}）" for f in w.core)
    return b_core_opening(w, hybrid=True, rng=rng) + exclusion_list(rng, w) + f"段落分析框架是'{frame}双维度分析'。"


# --------------------------------------------------------------------------------------------------
# positives
# --------------------------------------------------------------------------------------------------

ENUM_LEADS = (
    None,
    "核心指标：",
    "关键指标有",
    "主要指标包括",
    "本段分析以下指标：",
    "核心指标如下：",
    "被深度分析的指标：",
    "重点关注：",
    "本段的核心指标为：",
    "重点分析了以下几个指标：",
)
BULLETS = ("", "- ", "· ", "• ", "* ")
HEAD_SEPS = ("——", "—", "：", ":", " - ", "-")
ITEM_SEPS = ("；", ";", "\n", "；\n", "; ")
HEAD_FORMS = (
    "name",
    "name_value",
    "name_value_change",
    "name_value_ascii",
    "name_qualifier",
    "name_inline_value",
    "bracketed",
)


def head(f: Fact, rng: random.Random, form: str) -> str:
    """The short head an enumeration item opens with."""
    if form == "name":
        return f.name
    if form == "name_value":
        return f"{f.name}（{f.value}）"
    if form == "name_value_change":
        return f"{f.name}（{f.compact()}）"
    if form == "name_value_ascii":
        return f"{f.name}({f.value}" + (f", {f.change}" if f.change else "") + ")"
    if form == "name_qualifier":
        return f"{f.name}（{rng.choice(('核心', f.mtype, f.mtype + '指标', '主指标', '重点'))}）"
    if form == "name_inline_value":
        return f"{f.name}{f.value}"
    if form == "bracketed":
        return f"【{f.name}】{f.value}"
    raise ValueError(form)


def _enum_items(w: World, n_items: int) -> list[Fact]:
    return (w.core + w.extras)[:n_items]


def semicolon_enumeration_analysis(rng: random.Random, w: World, n_items: int, ax: _Axes) -> str:
    lead = ax.pick(rng, "lead", ENUM_LEADS)
    form = ax.pick(rng, "head_form", HEAD_FORMS)
    mixed = ax.pick(rng, "mixed_punct", (False, True))
    head_sep = ax.pick(rng, "head_sep", HEAD_SEPS)
    item_sep = ax.pick(rng, "item_sep", ITEM_SEPS)
    before = ax.pick(rng, "prose_before", (False, True))
    after = ax.pick(rng, "prose_after", (False, True))
    end = ax.pick(rng, "end", ("。", "", "；"))
    bullet = ax.pick(rng, "bullet", BULLETS) if "\n" in item_sep else ""
    items = []
    for i, f in enumerate(_enum_items(w, n_items)):
        hs = rng.choice(HEAD_SEPS[:4]) if mixed and i % 2 else head_sep
        items.append(f"{bullet}{head(f, rng, form)}{hs}{_point(rng, f)}")
    seps = [rng.choice(("；", ";")) if mixed and "\n" not in item_sep else item_sep for _ in items[1:]]
    body = items[0] + "".join(s + it for s, it in zip(seps, items[1:], strict=True))
    text = ""
    if before:
        text += opening_sentence(rng, w)
    if lead:
        text += lead + ("\n" if "\n" in item_sep and (bullet or rng.random() < 0.5) else "")
    elif before and bullet:
        text += "\n"
    text += body + (end if not (after and end == "") else "。")
    if after:
        tail = [f for f in (w.core + w.extras)[n_items:]]
        text += f"{tail[0].name}是规模背景。" if tail else "其余数字是背景信息。"
    return text


NUM_MARKERS = ("1.", "1. ", "1、", "(1)", "（1）", "①", "⑴", "一、", "第一，", "1)", "1）", "1．", "其一，", "一是")
ORDINAL_WORDS = ("第一，", "其一，", "一是")  # markers that read as words: their items are prose


def _marker(style: str, i: int) -> str:
    if style in ("1.", "1. ", "1、", "1)", "1）", "1．"):
        return f"{i}{style[1:]}"
    if style == "(1)":
        return f"({i})"
    if style == "（1）":
        return f"（{i}）"
    if style == "①":
        return CIRCLED[i]
    if style == "⑴":
        return chr(0x2473 + i)  # ⑴ ⑵ ⑶ ...
    if style == "一、":
        return f"{CN_ORD[i]}、"
    if style == "第一，":
        return f"第{CN_ORD[i]}，"
    if style == "其一，":
        return f"其{CN_ORD[i]}，"
    if style == "一是":
        return f"{CN_ORD[i]}是"
    raise ValueError(style)


NUM_LEADS = (None, "核心指标：", "本段分析以下指标：", "关键指标如下：", "段落的核心指标有：", "深度分析的指标包括：")
NUM_LAYOUTS = ("lines", "inline", "inline_semicolon", "sentences")
NUM_BODIES = ("head_colon", "head_dash", "prose_item")


def numbered_list_analysis(rng: random.Random, w: World, n_items: int, ax: _Axes) -> str:
    style = ax.pick(rng, "marker", NUM_MARKERS)
    layout = ax.pick(rng, "layout", NUM_LAYOUTS)
    body_form = ax.pick(rng, "item_body", NUM_BODIES if style not in ORDINAL_WORDS else ("prose_item",))
    lead = ax.pick(rng, "lead", NUM_LEADS)
    before = ax.pick(rng, "prose_before", (False, True))
    after = ax.pick(rng, "prose_after", (False, True))
    items = []
    for i, f in enumerate(_enum_items(w, n_items), start=1):
        p = _point(rng, f)
        if body_form == "head_colon":
            body = f"{f.name}（{f.compact()}）：{p}"
        elif body_form == "head_dash":
            body = f"{f.name}{f.value}——{p}"
        else:
            verb = rng.choice(("为", "达到")) if style == "一是" else rng.choice(("为", "达到", ""))
            body = f"{f.name}{verb}{f.value}，" + (f"{f.change_text}，" if f.change_text else "") + f"是{p}"
        mark = _marker(style, i)
        if body[0].isdigit() and mark[-1] in ".．":
            mark += " "  # "1.800G光模块" would read as the number 1.800: writers put a space there
        items.append(mark + body)
    if layout == "lines":
        body = "\n".join(it + rng.choice(("", "；", "。")) for it in items)
        sep_lead = "\n"
    elif layout == "inline":
        body = rng.choice((" ", "  ", "，", "。")).join(items) + "。"
        sep_lead = ""
    elif layout == "inline_semicolon":
        body = "；".join(items) + "。"
        sep_lead = ""
    else:
        body = "".join(it + "。" for it in items)
        sep_lead = rng.choice(("", "\n"))
    text = opening_sentence(rng, w) if before else ""
    if lead:
        text += lead + sep_lead
    elif before and layout == "lines":
        text += "\n"
    text += body
    if after:
        text += ("\n" if layout == "lines" else "") + "其余数字是背景信息，不单独提取。"
    return text


ANCHOR_FORMS = (
    "核心指标数量：{n}",
    "核心指标数量: {n}",
    "核心指标数量：{n}个",
    "【核心指标数量：{n}】",
    "[核心指标数量：{n}]",
    "（核心指标数量：{n}）",
    "核心指标数量 ： {n}",
    "指标数量：{n}",
    "核心指标数：{n}",
    "核心指标数量={n}",
    "本段有{n}个指标被深度分析",
    "本段有 {n} 个指标被深度分析",
    "本段共有{n}个核心指标",
    "共{n}个核心指标：",
    "本段有{cn}个指标被深度分析",
    "被深度分析的指标有{n}个",
    "核心指标共{n}个",
    "本段共{n}个核心指标",
    "【本段有{n}个指标被深度分析】",
    "本段核心指标数量为{n}",
    "本段深度分析了{n}个指标",
    "本段提取{n}个核心指标",
    "共识别出{n}个核心指标",
    "核心指标（{n}个）：",
    "核心指标数量：{cn}个",
    "核心指标：{n}个",
    "本段共涉及{n}个核心指标",
)
ANCHOR_ONE_FORMS = (
    "本段只有1个指标被深度分析",
    "本段只有一个指标被深度分析",
    "本段仅有1个指标被深度分析",
    "本段只有 1 个指标被深度分析",
    "【本段只有1个指标被深度分析】",
)
ANCHOR_LEADING = ("", " ", "\n", "　")
ANCHOR_TRAILING = ("。", "，", "\n", "；", "。\n", "")


def count_anchor_analysis(rng: random.Random, w: World, type_: str, ax: _Axes) -> str:
    n = len(w.core)
    forms = ANCHOR_FORMS + (ANCHOR_ONE_FORMS if n == 1 else ())
    form = ax.pick(rng, "anchor", forms)
    lead = ax.pick(rng, "leading", ANCHOR_LEADING)
    trail = ax.pick(rng, "trailing", ANCHOR_TRAILING if not form.endswith("：") else ("",))
    anchor = form.format(n=n, cn=CN_NUM[n])
    if form.endswith("："):  # 共2个核心指标：毛利率和净利率。
        anchor += _join_cn([f.name for f in w.core]) + "。"
    if type_ == "B":
        body = exclusion_body(rng, w)
    elif type_ == "D":
        body = hybrid_body(rng, w)
    elif type_ == "C":
        body = c_prose_body(rng, w)
    else:
        body = prose_body(rng, w)
    return lead + anchor + trail + body


STYLE_KINDS = ("a_exclusion", "c_exclusion", "b_prose", "b_prose_empty", "d_exclusion_no_rationale", "d_prose")
EXCL_LEADS = ("逐项排除：", "逐项排除如下：", "其余数据逐项排除：", "其余数值逐项排除：")


def _labels(**kw) -> dict:
    out = {r: False for r in TARGET_RULES}
    out.update({k.replace("_", "-"): v for k, v in kw.items()})
    return out


def positive(family: str, rng: random.Random) -> Sample:
    """One generated positive of `family`, labelled."""
    ax = _Axes()
    if family == "semicolon-enumeration":
        n_items = ax.pick(rng, "items", (2, 3, 4, 5))
        type_ = ax.pick(rng, "type", ("A", "C"))
        n_core = min(4, n_items)
        w = world(rng, n_core, (n_items - n_core) + rng.randint(0, 1))
        if type_ == "C" and n_core == 2:
            type_ = ax["type"] = "A"
        analysis = semicolon_enumeration_analysis(rng, w, n_items, ax)
        # a bulleted list ("- 毛利率：…") is an enumeration; whether numbered-list also claims it is open
        labels = _labels(
            semicolon_enumeration=True, style_mismatch=None, numbered_list=None if ax.get("bullet") else False
        )
        return _sample(type_, w, analysis, rng, family=family, kind=f"{n_items}_items", variant=dict(ax), labels=labels)
    if family == "numbered-list":
        n_items = ax.pick(rng, "items", (2, 3, 4, 5))
        type_ = ax.pick(rng, "type", ("A", "C"))
        n_core = min(4, n_items)
        w = world(rng, n_core, (n_items - n_core) + rng.randint(0, 1))
        if type_ == "C" and n_core == 2:
            type_ = ax["type"] = "A"
        analysis = numbered_list_analysis(rng, w, n_items, ax)
        labels = _labels(numbered_list=True, semicolon_enumeration=None, style_mismatch=None)
        return _sample(type_, w, analysis, rng, family=family, kind=ax["marker"], variant=dict(ax), labels=labels)
    if family == "count-anchor":
        type_ = ax.pick(rng, "type", ("A", "B", "C", "D"))
        n_core = {
            "A": rng.choice((1, 2, 3)),
            "B": rng.choice((1, 2)),
            "C": rng.choice((1, 3, 4)),
            "D": rng.choice((2, 3)),
        }[type_]
        if type_ in ("B", "D"):
            w = world(
                rng,
                n_core,
                rng.randint(2, 6 - n_core),
                n_qual=rng.randint(0, 2),
                macro=rng.random() < 0.4,
                mixed=type_ == "D",
            )
        else:
            w = world(rng, n_core, rng.randint(0, 6 - n_core))
        analysis = count_anchor_analysis(rng, w, type_, ax)
        return _sample(
            type_,
            w,
            analysis,
            rng,
            family=family,
            kind="one" if n_core == 1 else "many",
            variant=dict(ax),
            labels=_labels(count_anchor=True),
        )
    if family == "style-mismatch":
        kind = ax.pick(rng, "kind", STYLE_KINDS)
        if kind in ("a_exclusion", "c_exclusion", "d_exclusion_no_rationale"):
            lead = ax.pick(rng, "exclusion_lead", EXCL_LEADS)
            sep = ax.pick(rng, "exclusion_sep", ("。", "；"))
        else:
            dash_ok = ax.pick(rng, "prose_dash", (False, True))
            prose_opening = ax.pick(rng, "opening", ("prose_opening", "core_opening"))
        if kind in ("a_exclusion", "c_exclusion"):
            type_ = "A" if kind == "a_exclusion" else "C"
            n_core = rng.choice((1, 2, 3)) if type_ == "A" else rng.choice((1, 3, 4))
            w = world(
                rng,
                n_core,
                rng.randint(2, max(2, 6 - n_core)) if n_core < 4 else 2,
                n_qual=rng.randint(0, 2),
                macro=rng.random() < 0.3,
            )
            opening = ax.pick(rng, "opening", ("core_opening", "prose_opening"))
            if opening == "core_opening":
                analysis = b_core_opening(w) + exclusion_list(rng, w, sep=sep, lead=lead) + b_closing(rng, w)
            else:
                analysis = (
                    opening_sentence(rng, w)
                    + f"核心是{_join_cn([f.name for f in w.core])}。"
                    + exclusion_list(rng, w, sep=sep, lead=lead)
                )
        elif kind == "d_exclusion_no_rationale":
            type_ = "D"
            w = world(
                rng,
                rng.choice((2, 3)),
                rng.randint(2, 3),
                n_qual=rng.randint(0, 2),
                macro=rng.random() < 0.3,
                mixed=True,
            )
            analysis = b_core_opening(w) + exclusion_list(rng, w, sep=sep, lead=lead) + b_closing(rng, w)
        else:  # prose where B needs the exclusion list / D needs exclusion list + rationale
            if kind == "d_prose":
                type_ = "D"
                w = world(rng, rng.choice((2, 3)), rng.randint(0, 3), mixed=True)
            else:
                type_ = "B"
                n_core = 0 if kind == "b_prose_empty" else rng.choice((1, 2))
                w = world(rng, n_core, rng.randint(2, 4), n_qual=rng.randint(0, 1))
            if prose_opening == "core_opening":
                analysis = b_core_opening(w) + prose_body(rng, w, opening=False, dash_ok=dash_ok)
            else:
                analysis = prose_body(rng, w, dash_ok=dash_ok)
        return _sample(
            type_, w, analysis, rng, family=family, kind=kind, variant=dict(ax), labels=_labels(style_mismatch=True)
        )
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


def positives(family: str, n: int, seed: int = 0) -> list[Sample]:
    """n labelled positives of `family`; the same (family, n, seed) always gives the same samples."""
    rng = random.Random(f"{family}:{seed}")
    return [positive(family, rng) for _ in range(n)]


# --------------------------------------------------------------------------------------------------
# negatives
# --------------------------------------------------------------------------------------------------

NEGATIVE_KINDS = (
    "prose_a",
    "prose_c",
    "c_dimension_clauses",
    "exclusion_b",
    "exclusion_b_empty",
    "exclusion_b_semicolon",
    "hybrid_d",
    "number_heavy",
    "ranking_words",
    "single_semicolon",
    "single_head",
    "count_mid",
    "two_paragraphs",
)


def _decorations(rng: random.Random, w: World, k: int) -> list[tuple[str, str]]:
    """Number-heavy sentences that carry no list marker: 1.6T, 3.5万, 2025H1, 9.8元, 3-5%, 2024-2025年, 1.5倍, Q1."""
    m = w.core[0].name if w.core else "毛利率"
    q1 = f"{_u(rng, 8, 40):.1f}%"
    ind = w.industry.desc
    pool = [
        (f"管理层预计未来两年{m}仍有3-5%的提升空间", "管理层给出的3-5%提升空间是前瞻指引，不是已实现数值。"),
        ("2024-2025年公司处于新产能爬坡期", "2024-2025年的产能爬坡是背景信息。"),
        (f"公司{m}是行业平均水平的1.5倍", "1.5倍的行业相对水平说明竞争优势明显。"),
        (f"其中Q1单季{m}为{q1}", f"Q1单季{q1}是季度参照。"),
        ("2025H1公司整体经营稳健", "2025H1整体经营稳健是定性背景。"),
        ("2025Q1至Q3行业需求逐季回暖", "2025Q1至Q3的需求回暖是行业背景。"),
        ("公司现金储备覆盖短期债务约2.5倍", "2.5倍的现金覆盖倍数是财务安全边际的背景。"),
        ("截至2025-06-30公司在建项目均按计划推进", "截至2025-06-30的在建项目进度是定性信息。"),
    ]
    pool += {
        "光模块厂商": [
            ("1.6T产品已进入批量交付阶段", "1.6T产品批量交付是定性进展，不是核心指标。"),
            ("800G与1.6T产品合计占比过半", "800G与1.6T产品合计占比过半是结构描述。"),
        ],
        "快递企业": [("公司新增3.5万个末端网点", "3.5万个新增网点是规模背景。")],
        "生猪养殖龙头": [("3.5万吨饲料新产能将于年底投产", "3.5万吨饲料新产能尚未投产，属于前瞻信息。")],
        "连锁零售企业": [("主力自有品牌单品均价约9.8元", "9.8元的自有品牌均价是价格背景。")],
        "互联网金融信息平台": [("基础会员月费为9.8元", "9.8元的基础月费是定价背景。")],
    }.get(ind, [])
    return rng.sample(pool, k)


def negative(rng: random.Random, kind: str | None = None) -> Sample:
    """One labelled negative: fires none of the four target rules."""
    ax = _Axes()
    kind = kind or rng.choice(NEGATIVE_KINDS)
    labels = _labels()
    type_ = "A"
    if kind == "prose_a":
        w = world(rng, rng.choice((1, 2, 3)), rng.randint(0, 3))
        analysis = prose_body(rng, w)
    elif kind == "prose_c":
        type_ = "C"
        w = world(rng, ax.pick(rng, "metrics", (1, 3, 4)), rng.randint(0, 2))
        analysis = c_prose_body(rng, w)
    elif kind == "c_dimension_clauses":
        # the corpus C shape: 段落从X、Y和Z三个维度…。X有…；Y揭示…；Z虽…。 (clauses, not heads)
        type_ = "C"
        n = ax.pick(rng, "metrics", (3, 4))
        w = world(rng, n, rng.randint(0, 2))
        verbs = ("的改善反映了", "的变化揭示了", "有明确的归因，体现了", "虽有波动但仍是")
        clauses = [f"{f.name}{rng.choice(verbs)}{_point(rng, f)}" for f in w.core]
        analysis = (
            f"段落从{_join_cn([f.name for f in w.core])}{CN_NUM[n]}个维度分析了{w.industry.desc}的{w.industry.topic}。"
            + "；".join(clauses)
            + "。"
            + "".join(f"{f.name}是背景补充。" for f in w.extras)
        )
    elif kind in ("exclusion_b", "exclusion_b_semicolon", "exclusion_b_empty"):
        type_ = "B"
        n_core = 0 if kind == "exclusion_b_empty" else rng.choice((1, 2))
        w = world(
            rng,
            n_core,
            rng.randint(1, 6 - max(1, n_core)),
            n_qual=rng.randint(0 if n_core else 1, 2),
            macro=rng.random() < 0.4,
        )
        analysis = exclusion_body(
            rng,
            w,
            sep="；" if kind == "exclusion_b_semicolon" else "。",
            lead=ax.pick(rng, "exclusion_lead", ("逐项排除：", "逐项排除如下：")),
        )
    elif kind == "hybrid_d":
        type_ = "D"
        w = world(
            rng,
            rng.choice((2, 2, 3)),
            rng.randint(1, 3),
            n_qual=rng.randint(0, 2),
            macro=rng.random() < 0.3,
            mixed=True,
        )
        analysis = hybrid_body(rng, w)
    elif kind == "number_heavy":
        type_ = ax.pick(rng, "type", ("A", "C"))
        w = world(rng, rng.choice((1, 3)) if type_ == "C" else rng.choice((1, 2, 3)), rng.randint(0, 2))
        w.decorations = _decorations(rng, w, rng.randint(2, 4))
        body = c_prose_body(rng, w) if type_ == "C" else prose_body(rng, w)
        sentences = [s for _, s in w.decorations]
        first = ax.pick(rng, "decoration_first", (False, True))
        analysis = ("".join(sentences[:1]) + body + "".join(sentences[1:])) if first else body + "".join(sentences)
    elif kind == "ranking_words":
        w = world(rng, rng.choice((1, 2)), rng.randint(0, 2))
        m = w.core[0]
        rank = [
            (f"公司{m.name}稳居行业第一", f"{m.name}稳居行业第一，说明竞争地位稳固。"),
            (f"第一大客户收入占比约{_u(rng, 10, 40):.1f}%", None),
            (f"第一季度{m.name}已环比改善", f"第一季度{m.name}已环比改善，趋势向好。"),
            ("二季度起新产线逐步释放产能", "二季度起新产线释放是产能背景。"),
        ]
        picked = rng.sample(rank, 2)
        fixed = []
        for para, ana in picked:
            if ana is None:
                value = para.rsplit("约", 1)[1]
                ana = f"第一大客户收入占比{value}是客户结构背景。"
            fixed.append((para, ana))
        w.decorations = fixed
        analysis = prose_body(rng, w) + "".join(a for _, a in fixed)
    elif kind == "single_semicolon":
        w = world(rng, 2, rng.randint(0, 2), n_qual=1)
        a, b = w.core
        tail = rng.choice(("则基本持平", "则变化不大", "则是次要的补充", "的变化幅度相对有限"))
        analysis = (
            opening_sentence(rng, w)
            + f"{a.name}{a.value}的变化主要来自{w.qualitative[0]}；{b.name}{b.value}{tail}。"
            + "".join(f"{f.name}是背景补充。" for f in w.extras)
        )
    elif kind == "single_head":
        w = world(rng, 1, rng.randint(1, 3))
        f = w.core[0]
        sep = ax.pick(rng, "head_sep", ("——", "：", "—"))
        lead_in = ax.pick(rng, "opening", ("prose", "core_object"))
        start = opening_sentence(rng, w) if lead_in == "prose" else f"本段只分析{f.name}。"
        analysis = (
            start
            + f"{f.name}（{f.compact()}）{sep}{_point(rng, f)}，段落其余内容都在解释它的变化。"
            + "".join(f"{e.name}是归因或背景，不单独分析。" for e in w.extras)
        )
    elif kind == "count_mid":
        w = world(rng, rng.choice((1, 2)), rng.randint(0, 2))
        k = rng.randint(2, 5)
        mids = (
            f"段落提到{k}个子公司，但只是业务布局的背景。",
            f"公司有{k}个生产基地同步扩产，属于产能背景。",
            f"段落涉及{k}个业务板块，分析重心仍在核心指标上。",
            f"文中列举了{CN_NUM[k]}个区域市场的情况，属于结构补充。",
        )
        extra = ax.pick(rng, "mid_count", mids)
        para_bits = {
            mids[0]: f"公司旗下{k}个子公司贡献主要增量",
            mids[1]: f"公司{k}个生产基地同步扩产",
            mids[2]: f"公司{k}个业务板块均实现增长",
            mids[3]: f"{CN_NUM[k]}个区域市场均保持增长",
        }
        w.decorations = [(para_bits[extra], extra)]
        body = prose_body(rng, w)
        first_dot = body.index("。") + 1
        analysis = body[:first_dot] + extra + body[first_dot:]
    elif kind == "two_paragraphs":
        w = world(rng, rng.choice((1, 2, 3)), rng.randint(0, 2))
        first = opening_sentence(rng, w)
        rest = prose_body(rng, w, opening=False)
        analysis = first + "\n" + rest
    else:
        raise ValueError(f"unknown negative kind {kind!r}; known: {', '.join(NEGATIVE_KINDS)}")
    return _sample(type_, w, analysis, rng, family="negative", kind=kind, variant=dict(ax), labels=labels)


def negatives(n: int, seed: int = 0) -> list[Sample]:
    """n labelled negatives, kinds round-robin; deterministic in (n, seed)."""
    rng = random.Random(f"negative:{seed}")
    return [negative(rng, NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)]) for i in range(n)]


# --------------------------------------------------------------------------------------------------
# labels and variants
# --------------------------------------------------------------------------------------------------


def _prov(sample: Sample, key: str, default=None):
    return (sample.provenance.model_extra or {}).get(key, default)


def labels_of(sample: Sample) -> dict[str, bool | None]:
    return dict(_prov(sample, "labels", {}))


def variant_of(sample: Sample) -> dict:
    return dict(_prov(sample, "variant", {}))


def kind_of(sample: Sample) -> str:
    return _prov(sample, "kind", "")


def family_of(sample: Sample) -> str:
    return _prov(sample, "family", "")


def variant_space(family: str) -> int:
    """How many distinct surface variants the axes of `family` span (vocabulary not counted)."""
    if family == "semicolon-enumeration":
        newline_seps = sum("\n" in sep for sep in ITEM_SEPS)
        item_seps = len(ITEM_SEPS) - newline_seps + newline_seps * len(BULLETS)
        return prod((4, 2, len(ENUM_LEADS), len(HEAD_FORMS), 2, len(HEAD_SEPS), item_seps, 2, 2, 3))
    if family == "numbered-list":
        markers = (len(NUM_MARKERS) - len(ORDINAL_WORDS)) * len(NUM_BODIES) + len(ORDINAL_WORDS)
        return prod((4, 2, len(NUM_LEADS), len(NUM_LAYOUTS), 2, 2, markers))
    if family == "count-anchor":
        return 4 * (len(ANCHOR_FORMS) + len(ANCHOR_ONE_FORMS)) * len(ANCHOR_LEADING) * len(ANCHOR_TRAILING)
    if family == "style-mismatch":
        # a/c exclusion: lead x sep x opening; d exclusion: lead x sep; b/b-empty/d prose: dash x opening
        return len(EXCL_LEADS) * 2 * (2 * 2 + 1) + 3 * 2 * 2
    if family == "negative":
        return len(NEGATIVE_KINDS)
    raise ValueError(family)
