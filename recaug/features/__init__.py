"""recaug.features"""
