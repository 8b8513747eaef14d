"""Importers: models trained with other libraries -> wno-edge checkpoints.

neuralop  neuraloperator 2.x FNO / TFNO state dicts (read without executing the pickle)
"""
