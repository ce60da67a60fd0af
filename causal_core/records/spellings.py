"""How records spell each canonical intervention: data, compiled once by `matcher.py`.

TEXT: (canonical name, regex, condition). Regexes are case-insensitive unless the
entry wraps them in a `(?-i:...)` group (short acronyms such as EMA/SWA/QAT/TTT/XSA must be
upper case, so "ema" inside a word or "swa" in prose never count). Every regex is
wrapped in letter/digit boundaries by the matcher. Named groups become attributes
(cast to int/float); the condition decides whether the stated value is a change
from the naive baseline (9 layers, MLP 2x, SP-1024, seq 1024, stride = seq len, ...).

ENV: (canonical name, VARIABLE regex, attribute, condition) for `VAR=value`
assignments (run commands, config blocks, submission.json keys rendered as
`KEY=value`). An assignment that fails its condition (QAT=0, TTT_ENABLED=0,
NUM_LOOPS=1) says explicitly that the intervention is OFF.

Conditions: None (always applies), ("gt", x), ("ge", x), ("lt", x), ("ne", x),
("between", lo, hi) exclusive, ("truthy",), ("ne_str", s).
"""
from __future__ import annotations

Cond = tuple | None

N = r"(?:\d+(?:\.\d+)?|\.\d+)"          # a plain number
ON = ("truthy",)

TEXT: list[tuple[str, str, Cond]] = [
    # --- evaluation
    ("sliding_window_eval", r"sliding[- ]?window(?:[- ]eval\w*)?", None),
    ("sliding_window_eval", r"sliding[- ](?:eval\w*|bpb|s\d+)", None),
    ("sliding_window_eval", r"stride[- ]?(?P<stride>\d+)[- ](?:sliding|eval)\w*", ("between", 0, 1024)),
    ("sliding_window_eval", r"(?:eval[_ ])?stride\s*[=:]\s*(?P<stride>\d+)", ("between", 0, 1024)),
    ("sliding_window_eval", r"sliding\w*[ -]stride[- ]?(?P<stride>\d+)", ("between", 0, 1024)),
    ("test_time_training", r"(?-i:(?:LoRA[- ]|Legal[- ]?|Phased[- ]?|Phasing)?TTT)", None),
    ("test_time_training", r"test[- ]time[- ]training", None),
    ("test_time_training", r"score[- ]first(?:[- ]TTT)?", None),
    # --- data / tokenizer / context
    ("longer_train_seq", r"seq(?:uence)?[_ ]?(?:len(?:gth)?)?\s*[=:]?\s*(?P<seq_len>\d{4,5})", ("gt", 1024)),
    ("longer_train_seq", r"(?:train(?:ed)?|training) ?@ ?(?P<seq_len>\d{4,5})", ("gt", 1024)),
    ("longer_train_seq", r"(?P<seq_len_k>\d)k (?:seq(?:uence)?|context)(?: length)?", ("gt", 1)),
    ("longer_train_seq", r"long(?:er)?[- ]?context", None),
    ("larger_vocab", r"SP[- ]?(?P<vocab>\d{4,5})", ("gt", 1024)),
    ("larger_vocab", r"(?P<vocab>\d{4,5})[- ]?(?:BPE|vocab|token)\w*", ("gt", 1024)),
    ("larger_vocab", r"(?<!bigram_)(?<!bigram )vocab(?:ulary)?(?:[ _]size)?\s*[=:]?\s*(?P<vocab>\d{4,5})", ("gt", 1024)),
    ("larger_vocab", r"sentencepiece BPE (?P<vocab>\d{4,5})", ("gt", 1024)),
    ("tokenizer_transform", r"case[- ]?ops|lossless[- ]caps?|case[- ]preprocess\w*", None),
    ("tokenizer_transform", r"byte[- ]?level|byte260|byte[- ]?JEPA|H-?Net|dynamic chunking", None),
    # --- architecture
    ("more_layers", r"(?-i:(?P<layers>\d{1,2})L)", ("between", 9, 40)),
    ("more_layers", r"(?P<layers>\d{1,2})[- ](?:transformer )?(?:layers?|blocks)", ("between", 9, 40)),
    ("more_layers", r"(?P<layers>\d{1,2})x(?:512|768)", ("gt", 9)),
    ("more_layers", r"(?:10th|11th|extra|additional) (?:transformer )?layer", None),
    ("wider_mlp", r"MLP[ _-]?(?:mult[ _-]?)?(?P<mlp_mult>\d(?:\.\d+)?) ?[x×]", ("ge", 3)),
    ("wider_mlp", r"MLPMult(?P<mlp_mult>\d(?:\.\d+)?)", ("ge", 3)),
    ("wider_mlp", r"(?P<mlp_mult>\d(?:\.\d+)?) ?[x×] (?:relu\S* )?MLP(?: expansion)?", ("ge", 3)),
    ("wider_mlp", r"MLP (?P<mlp_mult>\d(?:\.\d+)?)[x×]", ("ge", 3)),
    ("wider_mlp", r"(?:wider|wide) MLP", None),
    ("wider_mlp", r"MLP expansion \((?P<mlp_mult>\d(?:\.\d+)?)[x×]", ("ge", 3)),
    ("depth_recurrence", r"(?:depth|layer|progressive|triple|mini)[- ]?(?:depth )?recurren(?:ce|t)", None),
    ("depth_recurrence", r"recurrence", None),
    ("depth_recurrence", r"(?-i:Loop) ?(?P<loop_layers>\d[-–]?\d)(?:x\d)?", None),
    ("depth_recurrence", r"loop(?:ing|ed)? (?:layers|the layers|blocks)", None),
    ("parallel_residuals", r"parallel[- ]?resid\w*|ParResid", None),
    ("unet_skips", r"U[- ]?Net|skip (?:weights|connections)", None),
    ("smeargate", r"smear(?:[- ]?gate)?", None),
    ("bigram_hash", r"bigram[- ]?hash(?:\((?P<buckets>\d+)(?!\d))?|bigram(?![- ]level)(?: embedding)?", None),
    ("xsa", r"(?-i:XSA)(?P<xsa_layers>\d+)?|exclusive self[- ]attention", None),
    ("partial_rope", r"partial[- ]?rope(?: \((?P<rope_dims>\d+)/\d+)?", None),
    ("gated_attention", r"gated[- ]?attn|gated attention|attention[- ]output[- ]gate|attn[- ]?(?:output[- ])?gate", None),
    ("gated_attention", r"sparse[- ]?(?:attention|attn)[- ]?gate|head[- ]output gate|sparse[- ]?gate", None),
    ("qk_gain", r"QK[- _]?gain(?:[_ ]init)?(?:\s*[=:]?\s*(?P<qk_gain>\d+(?:\.\d+)?))?", ("ne", 1.5)),
    ("qk_gain", r"(?-i:QK)(?P<qk_gain>\d(?:\.\d+)?)", ("ne", 1.5)),
    ("activation_change", r"leaky[- ]?relu\w*|SwiGLU|GeGLU|ReGLU", None),
    ("ortho_init", r"ortho(?:gonal)?[- ]?init\w*|orthogonal (?:weight )?init\w*|orthogonal \+ muP", None),
    ("ortho_init", r"overtone(?: spectral)?(?: embed\w*)?(?: init\w*)?|spectral embed\w* init\w*", None),
    ("value_residual", r"value[- ]resid\w*", None),
    # --- optimisation
    ("lr_tuning", r"(?:lower|tuned|higher|reduced|lowered|tune) (?:muon/adam |matrix |embed(?:ding)? )?(?:learning rates?|LRs?)", None),
    ("lr_tuning", r"(?:LR|learning[- ]rate) (?:sweep|tuning)|min[_ ]LR|(?-i:MLR) ?0\.\d+", None),
    ("lr_tuning", r"(?:matrix|scalar|tied[_ ]embed)[_ ]lr\s*[=:]?\s*(?P<matrix_lr>\d*\.\d+)", None),
    ("warmdown_schedule", r"warm[- ]?down(?:[_ ]iters)?\s*[=:]?\s*(?P<warmdown>\d{3,5})", ("ne", 1200)),
    ("warmdown_schedule", r"(?-i:WD)\s*=?\s*(?P<warmdown>\d{4,5})", ("ne", 1200)),
    ("warmdown_schedule", r"warm[- ]?down(?: fix| schedule| fraction| frac| \d\.\d+)?|taper|always-decaying", None),
    ("weight_decay", r"weight[- ]decay|muon[- ]?WD", None),
    ("weight_decay", r"(?-i:WD)\s*[=:]?\s*(?P<wd>0?\.\d+)|(?-i:WD)(?P<wd_code>0\d{1,3})\b", None),
    ("muon_variant", r"Muon[- ]?(?:momentum)?\s*[=:]?\s*(?P<muon_momentum>0\.9[6-9]\d*)", None),
    ("muon_variant", r"Muon(?P<muon_momentum_code>0\d\d)", None),
    ("muon_variant", r"higher momentum|momentum \(?0\.99", None),
    ("muon_variant", r"Muon ?Eq[- ]?R|Neo ?Muon|Polar[- ]?(?:Express|NS)|row[- ]normali[sz]ed muon", None),
    ("ema", r"(?-i:EMA)(?:\((?P<ema_decay>0\.\d+)\))?(?![- ]based| smoothing)|exponential moving average", None),
    ("swa", r"(?-i:SWA)|stochastic weight averag\w*", None),
    ("grad_clip", r"grad(?:ient)?[_ -]?(?:norm[_ -]?)?clip(?:ping|_norm)?(?:\s*[=:]?\s*(?P<clip>\d*\.\d+))?", None),
    ("batch_size_change", r"quarter[- ]batch|3/4 batch|(?:half|double|larger|smaller)[- ]batch", None),
    ("batch_size_change", r"batch\s*[=:]\s*(?P<batch_k>\d{3})K", ("ne", 524)),  # 786K ~ 786,432
    ("batch_size_change", r"(?:batch\S*\s*[=:]?\s*)?(?P<batch_tokens>\d{3},\d{3}) tokens(?:/step| per step)", ("ne", 524288)),
    # --- quantization / export
    ("qat", r"(?-i:QAT)|quantization[- ]aware training|fake[- ]?quant\w*", None),
    ("low_bit_quant", r"int(?P<bits>[1-7])(?![0-9])", None),
    ("low_bit_quant", r"ternary|1-bit|BitNet|FP8|FP4|(?P<bits_b>[1-7])-bit (?:quant\w*|weights)", None),
    ("low_bit_quant", r"binary (?:quant\w*|weights|U-?Net|network)|asymmetric binary", None),
    ("mixed_precision_quant", r"mixed[- ](?:precision[- ])?(?:int\d/int\d|quant\w*|precision)|mixed int\d", None),
    ("mixed_precision_quant", r"int(?P<bits_a>\d)/int(?P<bits_c>\d)", None),
    ("mixed_precision_quant", r"int5[- ]?MLP", None),
    ("fp16_embeddings", r"fp16[- ]?(?:tied[- ])?emb\w*|fp16 tied embedding", None),
    ("fp16_embeddings", r"(?:embedding|tok_emb\.weight)s?`? (?:remains? |kept |stays? )?in fp16", None),
    ("gptq", r"GPTQ[\w-]*|SD[- ]?Clip|LQER|Hessian[- ](?:aware|diagonal)|clip (?:percentile )?search", None),
    ("better_compression", r"zstd(?:[- ]?\d+)?|lzma|brotli(?:[- ]?\d+)?|lrzip", None),
    ("pruning", r"(?:magnitude )?pruning|pruned", None),
    # --- families
    ("ssm_hybrid", r"Mamba[\w-]*|(?-i:SSM)|(?-i:GDN)|Hymba|state[- ]space|linear[- ]attention", None),
    ("alt_objective", r"(?-i:JEPA)|diffusion|(?-i:MDLM)|LLaDA|multi[- ]token prediction", None),
    ("systems_speedup", r"(?-i:FA3)|flash[- ]?attention[- ]?3|fused (?:MLP|CE|QKV|relu\S*|softcapped CE|kernels?)|Triton|CUTLASS", None),
    ("systems_speedup", r"var[- ]?len[- ]?(?:attention|attn)|parallel[- ]Muon|parameter banking", None),
    ("data_loader", r"co-?prime[- ](?:stride )?(?:data )?loader|co-?prime[- ]stride|(?-i:Loader)|quasi10B\w*", None),
]

# Variable-name regex -> (name, attribute, condition). Matched as `VAR=value` (also `VAR: value`
# in submission.json rendering). The value is parsed as a number when it looks like one.
ENV: list[tuple[str, str, str, Cond]] = [
    ("sliding_window_eval", r"(?:SLIDING_)?EVAL_STRIDE|SLIDING_EVAL_STRIDE", "stride", ("between", 0, 1024)),
    ("sliding_window_eval", r"SLIDING_EVAL", "sliding", ON),
    ("test_time_training", r"TTT_ENABLED|TTT", "ttt", ON),
    ("longer_train_seq", r"TRAIN_SEQ_LEN|SEQ_LEN", "seq_len", ("gt", 1024)),
    ("larger_vocab", r"VOCAB_SIZE", "vocab", ("gt", 1024)),
    ("more_layers", r"NUM_LAYERS", "layers", ("gt", 9)),
    ("wider_mlp", r"MLP_MULT", "mlp_mult", ("ge", 3)),
    ("depth_recurrence", r"NUM_LOOPS", "loops", ("gt", 1)),
    ("depth_recurrence", r"RECUR_LAYERS|TRAINING_DEPTH_RECURRENCE", "recurrence", ON),
    ("parallel_residuals", r"PARALLEL_RESIDUALS?", "parallel_residual", ON),
    ("unet_skips", r"UNET_SKIPS", "unet_skips", ON),
    ("smeargate", r"SMEARGATE|SMEAR(?:_GATE)?", "smeargate", ON),
    ("bigram_hash", r"BIGRAM_(?:VOCAB_SIZE|HASH_BUCKETS|HASH_SIZE|HASH)", "buckets", ("gt", 0)),
    ("xsa", r"XSA_LAST_N", "xsa_layers", ("gt", 0)),
    ("partial_rope", r"ROPE_DIMS", "rope_dims", ("gt", 0)),
    ("qk_gain", r"QK_GAIN_INIT", "qk_gain", ("ne", 1.5)),
    ("activation_change", r"MLP_ACT|ACTIVATION", "activation", ("ne_str", "relu2")),
    ("ortho_init", r"ORTHO_INIT", "ortho_init", ON),
    ("value_residual", r"VALUE_RESIDUAL", "value_residual", ON),
    ("lr_tuning", r"MATRIX_LR", "matrix_lr", ("ne", 0.04)),
    ("lr_tuning", r"SCALAR_LR", "scalar_lr", ("ne", 0.04)),
    ("lr_tuning", r"TIED_EMBED_LR", "tied_embed_lr", ("ne", 0.05)),
    ("warmdown_schedule", r"WARMDOWN_ITERS", "warmdown", ("ne", 1200)),
    ("warmdown_schedule", r"WARMDOWN_FRAC(?:TION)?", "warmdown_frac", ("gt", 0)),
    ("weight_decay", r"MUON_WD|ADAM_WD|MUON_WEIGHT_DECAY|ADAM_WEIGHT_DECAY|ADAMW_WEIGHT_DECAY|WEIGHT_DECAY", "wd", ("gt", 0)),
    ("muon_variant", r"MUON_MOMENTUM", "muon_momentum", ("ne", 0.95)),
    ("ema", r"EMA_ENABLED", "ema", ON),
    ("ema", r"EMA_DECAY", "ema_decay", ("gt", 0)),
    ("swa", r"SWA_ENABLED", "swa", ON),
    ("swa", r"SWA_START_FRAC|SWA_EVERY", "swa_start_frac", ("gt", 0)),
    ("grad_clip", r"GRAD_CLIP(?:_NORM)?", "clip", ("gt", 0)),
    ("batch_size_change", r"TRAIN_BATCH_TOKENS", "batch_tokens", ("ne", 524288)),
    ("qat", r"QAT|QAT_ENABLED|LATE_QAT|QAT_INT6", "qat", ON),
    ("low_bit_quant", r"QUANT_BITS", "bits", ("lt", 8)),
    ("mixed_precision_quant", r"MIXED_QUANT", "mixed_quant", ON),
    ("fp16_embeddings", r"FP16_EMBED(?:_EXPORT)?", "fp16_embed", ON),
    ("gptq", r"USE_GPTQ", "gptq", ON),
    ("better_compression", r"USE_ZSTD", "zstd", ON),
    ("better_compression", r"COMPRESSOR", "compressor", ("ne_str", "zlib")),
    ("pruning", r"PRUNE_FRAC", "prune_frac", ("gt", 0)),
    ("alt_objective", r"MTP_HEADS", "mtp_heads", ("gt", 0)),
]

# Words before a mention (same clause, within a few words) that make it not part of the final
# configuration: "no EMA", "without QAT", "instead of int8", "(vs 9 baseline)", "up from 4096".
NEGATION_BEFORE = (
    r"\b(?:no|not|without|never|w/o|removed?|removing|disabled?|dropp?(?:ed|ing)?|instead of|rather than|"
    r"replace[sd]?|replacing|tried|incompatible with|except|none|vs\.?|versus|from|unlike|over)\b[^.;|]{0,25}$"
)
# Words after a mention in the same clause that say it was not used or did not work.
NEGATION_AFTER = (
    r"^[^.;|]{0,80}?\b(?:had no effect|has no effect|no effect|inactive|never activ\w*|not (?:active|used|enabled|included)|"
    r"(?:was|were) (?:tested|tried)|didn'?t (?:help|work)|did not (?:help|work)|hurt|net negative|"
    r"compresses worse|not worth|wasn'?t worth|disabled|dead[- ]code|brought a slight regression|"
    r"(?:is|was|were|are) (?:all )?(?:disabled|unused|removed)|slower|worse)\b"
)
# Cues that say plainly the final run did NOT use the intervention: these veto it for the
# record even when it is mentioned positively elsewhere (e.g. a LATE_QAT=1 flag that
# torch.compile folded away, "No TTT (sliding-only outperforms TTT)").
VETO_AFTER = r"^[^.;|]{0,80}?\b(?:had no effect|inactive|never activ\w*|not active|dead[- ]code|were not active|(?:is|are|were) (?:all )?disabled|found to be neutral)\b"
VETO_BEFORE = r"(?:^|[.;(\n|,]\s*|\bno\s[^.;|]{0,20},\s*)\**no\s+$"

# Headings whose sections list things tried and rejected, future work, or other people's
# results: mentions there never enter the final configuration.
NEGATIVE_HEADING = (
    r"(?i)(?:didn'?t|did not|doesn'?t|does not|not) (?:work|help)|failed|negative|things? (?:i |we )?tried|"
    r"dead[- ]ends?|rejected|future|next steps|ideas|unsuccessful|open questions|todo|what (?:didn'?t|did not)|"
    r"limitations|incompatib"
)
# Headings of sections that state what a record adds over its parent.
DELTA_HEADING = (
    r"(?i)what'?s new|changes? (?:from|vs\.?|over|relative)|key (?:innovations?|changes?|contributions?)|"
    r"novel contributions?|our contributions?|new in this|improvements? over|on top of|what changed|delta"
)
