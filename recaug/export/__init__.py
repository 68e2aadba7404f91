"""recaug.export"""
