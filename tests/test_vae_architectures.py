"""The conv decoder's sub-pixel layers, and the memory bound of the IWAE evaluation."""
import numpy as np

from vae.architectures import DepthToSpace, build_decoder
from vae.config import TrialConfig
from vae.evaluate import IWAE_ACTIVATION_BYTES, Evaluator, iwae_batch, largest_activation_bytes


def test_depth_to_space_puts_each_channel_group_on_its_pixel_of_the_2x2_block():
    x = np.arange(2 * 3 * 3 * 8, dtype=np.float32).reshape(2, 3, 3, 8)
    y = np.asarray(DepthToSpace()(x))
    assert y.shape == (2, 6, 6, 2)
    for row in range(2):
        for col in range(2):  # channel group (row, col) of input pixel (i, j) -> output pixel (2i+row, 2j+col)
            group = x[..., (2 * row + col) * 2:(2 * row + col + 1) * 2]
            np.testing.assert_array_equal(y[:, row::2, col::2, :], group)


def test_conv_decoder_outputs_image_shaped_logits():
    for filters, shape in (([16, 32], (28, 28, 1)), ([8], (8, 8, 3)), ([8, 16, 16], (32, 32, 3))):
        decoder = build_decoder(TrialConfig(arch="conv", filters=filters, latent_dim=4), shape)
        assert decoder(np.zeros((2, 4), np.float32)).shape == (2, *shape)


def test_iwae_calls_keep_the_largest_decoder_activation_under_the_budget():
    decoder = build_decoder(TrialConfig(arch="conv", filters=[16, 32]), (28, 28, 1))
    per_input = largest_activation_bytes(decoder)
    assert per_input == 4 * 7 * 7 * 4 * 16  # the sub-pixel conv's output (= the 14×14×16 after depth_to_space)
    for samples in (1, 10, 100, 5000):
        images = iwae_batch(samples, per_input)
        assert images >= 1
        assert images == 1 or samples * images * per_input <= IWAE_ACTIVATION_BYTES
    assert iwae_batch(100, 1024, budget=100 * 1024 * 7) == 7
    assert iwae_batch(1, 4, budget=2**40) == 500  # never more than one evaluation batch


def test_chunked_iwae_gives_one_finite_bound_per_image(monkeypatch):
    import vae.evaluate
    from vae.fit import build_model

    model = build_model(TrialConfig(arch="conv", filters=[8], hidden=[16], latent_dim=2), (8, 8, 1))
    images = np.random.default_rng(0).random((9, 8, 8, 1)).astype(np.float32)
    monkeypatch.setattr(vae.evaluate, "IWAE_ACTIVATION_BYTES", 5 * 4 * largest_activation_bytes(model.decoder))
    nll = Evaluator(model).iwae(images, 4)  # 5 images per call: 2 calls, the last one partial
    assert nll.shape == (9,) and np.isfinite(nll).all()
