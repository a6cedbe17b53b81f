"Backbones: real weights load offline and predict correctly; the stage splitter drives fastai's discriminative LRs and freezing."
import os
os.environ['FTLEARN_OFFLINE'] = '1'
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ['TRANSFORMERS_OFFLINE'] = '1'
import pytest, torch, timm
import torch.nn.functional as F
from torch import nn
from PIL import Image
import skimage.data
from fastai.basics import Learner, DataLoaders, DataLoader, CrossEntropyLossFlat
import fastai.callback.schedule, fastai.callback.progress   # patch fit_one_cycle and no_bar onto Learner
from ftlearn.core import file_sha1
from ftlearn.models.backbones import *

CUP, CAT = {967, 968, 504}, set(range(281, 286))   # espresso, cup, coffee mug; tabby .. Egyptian cat

@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('FTLEARN_CACHE', str(tmp_path))
    return tmp_path

def photos(meta):
    "scikit-image's coffee and cat photos, centre-cropped at the model's native size and normalised with its stats."
    tfm = timm.data.create_transform(input_size=(3, meta.input_size, meta.input_size), mean=meta.mean, std=meta.std,
                                     interpolation='bicubic', crop_pct=0.875)
    return torch.stack([tfm(Image.fromarray(im)) for im in (skimage.data.coffee(), skimage.data.chelsea())])

@pytest.mark.parametrize('name', ['efficientnet_lite0', 'lite1', 'tf_efficientnet_lite2'])
def test_converted_efficientnet_classifies_real_photos(name):
    meta, model = backbone_meta(name), load_backbone(name, num_classes=1000).eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    assert (cfg['mean'], cfg['std'], cfg['input_size'][-1]) == (meta.mean, meta.std, meta.input_size)
    with torch.no_grad(): top5 = model(photos(meta)).topk(5).indices.tolist()
    assert CUP & set(top5[0]), top5[0]
    assert CAT & set(top5[1]), top5[1]

def test_feature_extractor_and_scratch():
    x = torch.randn(2, 3, 64, 64)
    feats = load_backbone('lite0').eval()
    with torch.no_grad(): assert feats(x).shape == (2, 1280)
    a, b = load_backbone('lite0', pretrained=False), load_backbone('lite0', pretrained=True)
    assert not torch.equal(a.conv_stem.weight, b.conv_stem.weight)

def test_pretrained_load_leaves_the_random_state_alone():
    "Loading pretrained weights draws nothing from the global random state, so a seeded run's new head does not depend on what ran before."
    before = torch.get_rng_state()
    load_backbone('efficientnet_lite0', num_classes=3)
    load_backbone('efficientnet_lite0')
    assert torch.equal(before, torch.get_rng_state())

def test_minilm_paraphrases_closer_than_unrelated():
    model, tok = load_backbone('minilm').eval(), load_tokenizer('sentence-transformers/all-MiniLM-L6-v2')
    def embed(texts):
        b = tok(texts, padding=True, return_tensors='pt')
        with torch.no_grad(): h = model(**b).last_hidden_state
        m = b['attention_mask'][..., None].float()
        return F.normalize((h*m).sum(1)/m.sum(1), dim=-1)
    pairs = [('A man is playing a guitar.', 'Someone is playing the guitar.'),
             ('The cat sleeps on the sofa.', 'A cat is napping on the couch.'),
             ('How do I reset my password?', 'I forgot my password, how can I change it?')]
    a, b = embed([p[0] for p in pairs]), embed([p[1] for p in pairs])
    sim = a @ b.T                                  # diagonal: paraphrases; off-diagonal: unrelated
    for i in range(3):
        assert sim[i, i] > max(sim[i, j] for j in range(3) if j != i) + 0.2, sim

def test_minilm_classifier_and_random_init():
    clf = load_backbone('all-MiniLM-L6-v2', num_classes=3)
    assert clf.classifier.out_features == 3
    rnd = load_backbone('minilm', pretrained=False)
    ref = load_backbone('minilm')
    assert rnd.config.hidden_size == 384
    assert not torch.equal(rnd.embeddings.word_embeddings.weight, ref.embeddings.word_embeddings.weight)

def test_meta_and_registry():
    df = list_backbones()
    assert {'efficientnet_lite0', 'all-MiniLM-L6-v2'} <= set(df.name) and df.embedded_installed.all()
    for alias in ('efficientnet_lite0', 'tf_efficientnet_lite0', 'lite0'): assert backbone_meta(alias).name == 'efficientnet_lite0'
    for alias in ('all-MiniLM-L6-v2', 'sentence-transformers/all-MiniLM-L6-v2', 'minilm'): assert backbone_meta(alias).feature_dim == 384
    m = backbone_meta('convnext_atto')          # timm pass-through, read from its pretrained_cfg
    assert (m.kind, m.feature_dim, m.embedded) == ('vision', 320, False)

def test_unknown_or_unavailable_offline_names_the_alternatives():
    with pytest.raises(ValueError, match='efficientnet_lite0.*all-MiniLM-L6-v2'): load_backbone('no-such-org/no-such-model')
    with pytest.raises(ValueError, match='efficientnet_lite0'): load_backbone('resnet18')       # known, but no weights offline
    with pytest.raises(ValueError, match='no tokenizer'): load_tokenizer('lite0')
    assert isinstance(load_backbone('resnet18', pretrained=False), nn.Module)                 # scratch needs no weights

def test_corrupt_converted_file_is_rebuilt(tmp_cache):
    f = converted_weights('lite0')
    assert f.parent == tmp_cache/'weights'
    sha = file_sha1(f)
    f.write_bytes(f.read_bytes()[:1000])        # truncated copy
    model = load_backbone('lite0', num_classes=1000).eval()
    assert file_sha1(f) == sha
    with torch.no_grad(): assert CUP & set(model(photos(backbone_meta('lite0')))[0].topk(5).indices.tolist())

# --- the stage splitter ------------------------------------------------------------------------------------------

def assert_partition(model):
    ids = [id(p) for g in stage_splitter(model) for p in g]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}

def test_group_counts_and_partition():
    lite = load_backbone('lite0', num_classes=10)
    assert stage_names(lite) == ['stem'] + [f'blocks.{i}' for i in range(7)] + ['head']
    assert len(stage_splitter(lite)) >= 5
    assert {id(p) for p in lite.classifier.parameters()} <= {id(p) for p in stage_splitter(lite)[-1]}
    text = load_backbone('minilm', num_classes=2)
    assert stage_names(text) == ['embeddings'] + [f'layer.{i}' for i in range(6)] + ['head']
    assert {id(p) for p in text.classifier.parameters()} <= {id(p) for p in stage_splitter(text)[-1]}
    for m in (lite, load_backbone('lite0'), text, load_backbone('minilm'), nn.Sequential(load_backbone('lite0'), nn.Linear(1280, 2))):
        assert_partition(m)

def test_splitter_other_bert_families():
    from transformers import (RobertaConfig, RobertaForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification)
    small = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64, vocab_size=100, num_labels=2)
    rob = RobertaForSequenceClassification(RobertaConfig(num_hidden_layers=3, **small))
    dis = DistilBertForSequenceClassification(DistilBertConfig(n_layers=2, dim=32, n_heads=2, hidden_dim=64, vocab_size=100, num_labels=2))
    assert stage_names(rob) == ['embeddings', 'layer.0', 'layer.1', 'layer.2', 'head']
    assert stage_names(dis) == ['embeddings', 'layer.0', 'layer.1', 'head']
    for m in (rob, dis): assert_partition(m)

def synth_learner(train_bn=False):
    "Lite0 with a 2-class timm head on 16 random 3x32x32 images: mechanics only."
    torch.manual_seed(0)
    ds = [(torch.randn(3, 32, 32), torch.tensor(i % 2)) for i in range(16)]
    dls = DataLoaders(DataLoader(ds, bs=16, shuffle=True, drop_last=True), DataLoader(ds, bs=16), device='cpu')
    return Learner(dls, load_backbone('lite0', num_classes=2), loss_func=CrossEntropyLossFlat(),
                   splitter=stage_splitter, train_bn=train_bn)

def test_discriminative_lrs_are_geometric():
    learn = synth_learner()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, slice(1e-5, 1e-3))
    lrs = torch.tensor([h['lr'] for h in learn.opt.hypers], dtype=torch.float64)
    assert len(lrs) == 9
    ratios = lrs[1:]/lrs[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios)) and ratios[0] > 1
    assert torch.isclose(lrs[-1]/lrs[0], torch.tensor(100., dtype=torch.float64))

def snapshot(learn): return [[p.detach().clone() for p in g] for g in learn.splitter(learn.model)]

def fit_one_step_frozen(train_bn):
    learn = synth_learner(train_bn)
    learn.freeze_to(-2)
    before = snapshot(learn)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    return learn, before, snapshot(learn)

def test_freeze_to_leaves_earlier_groups_unchanged():
    learn, before, after = fit_one_step_frozen(train_bn=False)
    for i, (b, a) in enumerate(zip(before, after)):
        changed = [not torch.equal(x, y) for x, y in zip(b, a)]
        if i < len(before) - 2: assert not any(changed), f'frozen group {i} changed'
        else: assert all(changed), f'trainable group {i}: {sum(changed)}/{len(changed)} changed'

def test_train_bn_default_trains_batchnorm_in_frozen_groups():
    "fastai's train_bn=True keeps BatchNorm affine parameters trainable even in frozen groups."
    learn, before, after = fit_one_step_frozen(train_bn=True)
    bn = {id(p) for m in learn.model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    frozen = learn.splitter(learn.model)[:-2]
    for g, b, a in zip(frozen, before, after):
        for p, x, y in zip(g, b, a):
            assert torch.equal(x, y) != (id(p) in bn), 'BN params should change, all others stay'

@pytest.mark.parametrize('bad', [-1, 2.5, '10', True, None])
def test_num_classes_is_checked(bad):
    with pytest.raises(ValueError, match='num_classes must be a whole number >= 0'): load_backbone('lite0', num_classes=bad)
