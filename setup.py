from setuptools import find_packages, setup


def read_version():
    scope = {}
    with open('densepre/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(fname):
    with open(fname) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


setup(
    name='densepre',
    version=read_version(),
    description='Dense self-supervised visual pretraining and transfer '
    '(LEWEL, CLoVE, Revisiting-Contrastive, LOCA) on OpenMMLab',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    package_data={'densepre.datasets': ['meta/*.txt']},
    python_requires='>=3.9',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
