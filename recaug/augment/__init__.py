"""recaug.augment"""
