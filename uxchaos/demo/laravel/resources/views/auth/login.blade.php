@extends('layouts.app')

@section('title', 'Log in')

@section('content')
    <h1>Log in</h1>
    @if ($errors->any())
        <p class="error" role="alert">{{ $errors->first() }}</p>
    @endif
    <form method="POST" action="{{ route('login') }}">
        @csrf
        <label>Email <input id="email" name="email" type="email" value="{{ old('email') }}" required autofocus></label>
        <label>Password <input id="password" name="password" type="password" required autocomplete="current-password"></label>
        <label><input id="remember_me" name="remember" type="checkbox"> Remember me</label>
        <button id="login" type="submit">Log in</button>
    </form>
@endsection
