<!doctype html>
<html lang="{{ str_replace('_', '-', app()->getLocale()) }}">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="csrf-token" content="{{ csrf_token() }}">
    <title>@yield('title') · {{ config('app.name', 'Laravel') }}</title>
    <style>
        body { font-family: sans-serif; max-width: 40em; margin: 3em auto; }
        label { display: block; margin: .5em 0; }
        .error { color: #b00; }
    </style>
</head>
<body>
    <nav><a href="{{ url('/') }}">Home</a> · <a href="{{ route('login') }}">Log in</a> · <a href="{{ route('dashboard') }}">Dashboard</a></nav>
    @yield('content')
</body>
</html>
