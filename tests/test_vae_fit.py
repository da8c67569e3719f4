"""vae.fit's data feeding: each step's batch is gathered from the stored data in the seeded shuffled order."""
import numpy as np

from vae import data
from vae.config import TrialConfig


def test_an_epoch_feeds_the_seeded_permutation_of_the_stored_rows():
    from vae.tf_runtime import keras
    from vae.fit import ORDER_SEED_OFFSET, Trainer

    config = TrialConfig(dataset="digits", hidden=[8], latent_dim=2, batch_size=100, seed=3)
    splits = data.load_splits(config)  # 1,437 training images: 14 full batches of 100, 37 left out
    trainer = Trainer(config, splits.image_shape, len(splits.train))
    fed, batches = [], []
    original = trainer.batch

    def recording(positions):
        fed.append(np.array(positions))
        batches.append(original(positions))
        return batches[-1]

    trainer.batch = recording  # read at run time by the compiled epoch's numpy_function
    trainer.run_epoch(splits.train)
    order = keras.random.shuffle(np.arange(len(splits.train)),
                                 seed=keras.random.SeedGenerator(config.seed + ORDER_SEED_OFFSET))
    np.testing.assert_array_equal(np.concatenate(fed), np.asarray(order)[:1400])
    expected = np.asarray(splits.train)[np.concatenate(fed)]  # the float32 images a resident copy would give
    np.testing.assert_array_equal(np.concatenate(batches), expected)
    assert trainer.feeding is None  # the cached trainer lets the trial's data go
